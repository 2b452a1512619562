import type { Logger } from 'pino'
import { Agent, fetch } from 'undici'
import { SandboxError } from '../../errors.js'

/** Default deadline of one Engine API call. */
const CALL_TIMEOUT_MS = 10_000

/** A task as the swarm runtime reads it (GET /tasks). */
export type Task = {
  ID: string
  ServiceID: string
  NodeID?: string
  DesiredState: string
  Status: { State: string; Err?: string; Message?: string; Timestamp?: string }
  NetworksAttachments?: { Network: { ID: string }; Addresses?: string[] }[]
}

/** A node as the swarm runtime reads it (GET /nodes). */
export type SwarmNode = {
  ID: string
  Description?: { Hostname?: string }
  Status: { State: string }
  Spec: { Availability: string; Role: string }
}

export type ServiceSummary = {
  id: string
  name: string
  labels: Record<string, string>
  /** Secrets the service's tasks mount (the context's token). */
  secretIds: string[]
}

export type NetworkSummary = {
  id: string
  driver: string
  internal: boolean
  attachable: boolean
  encrypted: boolean
}

/** An Engine API error: the status the engine answered with and its message. */
export class EngineError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message)
    this.name = 'EngineError'
  }
}

/**
 * The swarm runtime's Engine API client: the only code that talks to the Swarm manager. Plain
 * JSON over undici (a UNIX socket or tcp://), every call with a deadline; "already gone" counts
 * as success for removals; an engine that cannot be reached is SandboxError UNAVAILABLE naming
 * DOCKER_HOST. Uses only the service, task, node, secret and network endpoints (and _ping, info),
 * which is what a socket proxy in front of the manager has to allow.
 */
export class SwarmEngine {
  private readonly agent: Agent
  private readonly origin: string

  /** @param dockerHost - `unix:///var/run/docker.sock` or `tcp://host:2375` (DOCKER_HOST) */
  constructor(
    private readonly dockerHost: string,
    private readonly log: Logger,
  ) {
    const url = new URL(dockerHost)
    const unix = url.protocol === 'unix:'
    this.agent = new Agent(unix ? { connect: { socketPath: url.pathname } } : {})
    this.origin = unix ? 'http://docker' : `http://${url.hostname}:${url.port || 2375}`
  }

  async ping(signal?: AbortSignal): Promise<void> {
    await this.request('GET', '/_ping', { signal, text: true })
  }

  /** The node this API belongs to, and whether it is a Swarm manager. */
  async info(): Promise<{ nodeId: string; manager: boolean }> {
    const info = (await this.request('GET', '/info')) as {
      Swarm?: { NodeID?: string; ControlAvailable?: boolean }
    }
    return { nodeId: info.Swarm?.NodeID ?? '', manager: info.Swarm?.ControlAvailable === true }
  }

  /** The network of that name or id, or undefined. */
  async network(name: string): Promise<NetworkSummary | undefined> {
    try {
      const n = (await this.request('GET', `/networks/${encodeURIComponent(name)}`)) as {
        Id: string
        Driver: string
        Internal: boolean
        Attachable: boolean
        Options?: Record<string, string>
      }
      return {
        id: n.Id,
        driver: n.Driver,
        internal: n.Internal,
        attachable: n.Attachable,
        encrypted: n.Options?.encrypted !== undefined,
      }
    } catch (error) {
      if (error instanceof EngineError && error.status === 404) return undefined
      throw error
    }
  }

  async createSecret(name: string, data: string, labels: Record<string, string>): Promise<string> {
    const body = { Name: name, Labels: labels, Data: Buffer.from(data).toString('base64') }
    const created = (await this.request('POST', '/secrets/create', { body })) as { ID: string }
    return created.ID
  }

  async secrets(labels: string[]): Promise<string[]> {
    const found = (await this.request('GET', '/secrets', { filters: { label: labels } })) as {
      ID: string
    }[]
    return found.map((s) => s.ID)
  }

  /** Removes a secret; one that is gone counts as removed. */
  async removeSecret(id: string): Promise<void> {
    await this.removal(`/secrets/${id}`)
  }

  /** @returns the new service's id */
  async createService(spec: object, signal?: AbortSignal): Promise<string> {
    const created = (await this.request('POST', '/services/create', { body: spec, signal })) as {
      ID: string
    }
    return created.ID
  }

  /** Removes a service (its task's container is stopped on its node); gone counts as removed. */
  async removeService(id: string): Promise<void> {
    await this.removal(`/services/${id}`)
  }

  async services(labels: string[]): Promise<ServiceSummary[]> {
    const found = (await this.request('GET', '/services', { filters: { label: labels } })) as {
      ID: string
      Spec: {
        Name: string
        Labels?: Record<string, string>
        TaskTemplate?: { ContainerSpec?: { Secrets?: { SecretID: string }[] } }
      }
    }[]
    return found.map((s) => ({
      id: s.ID,
      name: s.Spec.Name,
      labels: s.Spec.Labels ?? {},
      secretIds: (s.Spec.TaskTemplate?.ContainerSpec?.Secrets ?? []).map((r) => r.SecretID),
    }))
  }

  /** A service as the manager holds it (its spec and version), for updates and tests. */
  async inspectService(id: string): Promise<unknown> {
    return this.request('GET', `/services/${id}`)
  }

  /**
   * Merges labels into a service's (not its tasks': changing them restarts nothing). Retries
   * once when another update won the race for the service's version.
   */
  async updateLabels(id: string, labels: Record<string, string>): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      const service = (await this.inspectService(id)) as {
        Version: { Index: number }
        Spec: { Labels?: Record<string, string> }
      }
      const spec = { ...service.Spec, Labels: { ...service.Spec.Labels, ...labels } }
      try {
        await this.request('POST', `/services/${id}/update`, {
          query: { version: String(service.Version.Index) },
          body: spec,
        })
        return
      } catch (error) {
        if (attempt >= 2 || !(error instanceof EngineError) || error.status === 404) throw error
      }
    }
  }

  async tasks(filters: Record<string, string[]>, signal?: AbortSignal): Promise<Task[]> {
    return (await this.request('GET', '/tasks', { filters, signal })) as Task[]
  }

  async nodes(signal?: AbortSignal): Promise<SwarmNode[]> {
    return (await this.request('GET', '/nodes', { signal })) as SwarmNode[]
  }

  /** Closes the connections. */
  async close(): Promise<void> {
    await this.agent.close().catch(() => undefined)
  }

  private async removal(path: string): Promise<void> {
    try {
      await this.request('DELETE', path, { text: true })
    } catch (error) {
      if (error instanceof EngineError && error.status === 404) return
      throw error
    }
  }

  private async request(
    method: string,
    path: string,
    options: {
      query?: Record<string, string>
      filters?: Record<string, string[]>
      body?: object
      signal?: AbortSignal
      text?: boolean
    } = {},
  ): Promise<unknown> {
    const { query, filters, body, text } = options
    const signal = AbortSignal.any([
      options.signal ?? AbortSignal.timeout(CALL_TIMEOUT_MS),
      AbortSignal.timeout(CALL_TIMEOUT_MS),
    ])
    const params = new URLSearchParams(query)
    if (filters) params.set('filters', JSON.stringify(filters))
    const url = `${this.origin}${path}${params.size > 0 ? `?${params}` : ''}`
    const started = performance.now()
    let response: Awaited<ReturnType<typeof fetch>>
    try {
      response = await fetch(url, {
        method,
        dispatcher: this.agent,
        signal,
        ...(body
          ? { body: JSON.stringify(body), headers: { 'content-type': 'application/json' } }
          : {}),
      })
    } catch (error) {
      this.log.debug({ method, path, err: error }, 'engine call failed')
      throw new SandboxError(
        'UNAVAILABLE',
        `The Docker engine at ${this.dockerHost} is unavailable`,
        {
          cause: error,
        },
      )
    }
    const payload = await response.text()
    this.log.debug(
      { method, path, status: response.status, ms: Math.round(performance.now() - started) },
      'engine call',
    )
    if (response.status >= 400) {
      const message = (() => {
        try {
          return (JSON.parse(payload) as { message?: string }).message ?? payload
        } catch {
          return payload
        }
      })()
      throw new EngineError(response.status, `${method} ${path}: ${message}`)
    }
    if (text || payload === '') return payload
    return JSON.parse(payload)
  }
}
