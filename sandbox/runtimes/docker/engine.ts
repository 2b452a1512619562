import { readFile } from 'node:fs/promises'
import path from 'node:path'
import type { Duplex } from 'node:stream'
import Docker from 'dockerode'
import type { Logger } from 'pino'
import { SandboxError } from '../../errors.js'
import { abortable } from '../../jupyter/kernel.js'

/** Default deadline of one Docker API call. */
const CALL_TIMEOUT_MS = 10_000

export type ContainerResources = {
  memoryBytes: number
  nanoCpus: number
  pids: number
}

export type ContainerSummary = { id: string; name: string; labels: Record<string, string> }

export type ContainerState = { running: boolean; exitCode: number }

export type EngineEvent = {
  /** Docker's action: `die`, `oom`, … */
  action: string
  containerId: string
  /** Nanoseconds since the epoch, to resume the stream after a reconnect. */
  timeNano: number
  attributes: Record<string, string>
}

/**
 * The thin dockerode adapter of the docker runtime: the only code that talks to the Docker
 * engine. Every call has a deadline; "already gone" counts as success for removal; failures to
 * reach the engine become SandboxError UNAVAILABLE naming DOCKER_HOST.
 */
export class DockerEngine {
  private constructor(
    private readonly docker: Docker,
    private readonly where: string,
    private readonly log: Logger,
  ) {}

  /**
   * @param dockerHost - `unix:///var/run/docker.sock` or `tcp://host:2375` (DOCKER_HOST)
   */
  static connect(dockerHost: string, log: Logger): DockerEngine {
    const url = new URL(dockerHost)
    const options: Docker.DockerOptions =
      url.protocol === 'unix:'
        ? { socketPath: url.pathname, host: undefined, port: undefined }
        : { protocol: 'http', host: url.hostname, port: url.port || 2375, socketPath: undefined }
    return new DockerEngine(new Docker(options), dockerHost, log.child({ component: 'docker' }))
  }

  async ping(signal = AbortSignal.timeout(CALL_TIMEOUT_MS)): Promise<void> {
    await this.call('ping', {}, () => abortable(this.docker.ping(), signal))
  }

  /** The OCI runtimes the engine knows (`runc`, and `runsc` once gVisor is configured). */
  async runtimes(signal = AbortSignal.timeout(CALL_TIMEOUT_MS)): Promise<string[]> {
    const info = await this.call('info', {}, () => abortable(this.docker.info(), signal))
    return Object.keys((info as { Runtimes?: Record<string, unknown> }).Runtimes ?? {})
  }

  /**
   * Runs `cmd` in a running container with its stdin and output attached: the returned stream is
   * the hijacked connection, stdin going in raw, stdout and stderr coming out multiplexed.
   */
  async execStream(containerId: string, cmd: string[], user: string): Promise<Duplex> {
    const exec = await this.call('exec create', { containerId }, () =>
      this.docker.getContainer(containerId).exec({
        Cmd: cmd,
        User: user,
        AttachStdin: true,
        AttachStdout: true,
        AttachStderr: true,
        Tty: false,
        abortSignal: AbortSignal.timeout(CALL_TIMEOUT_MS),
      }),
    )
    const start = exec.start({ hijack: true, stdin: true, Tty: false })
    // Past the deadline the stream, should it still come, is closed at once.
    const deadline = AbortSignal.timeout(CALL_TIMEOUT_MS)
    const late = () =>
      void start.then(
        (stream) => stream.destroy(),
        () => undefined,
      )
    deadline.addEventListener('abort', late, { once: true })
    try {
      return await this.call('exec start', { containerId }, () => abortable(start, deadline))
    } finally {
      deadline.removeEventListener('abort', late)
    }
  }

  /** True when the image is present locally (the runtime never pulls). */
  async hasImage(image: string, signal = AbortSignal.timeout(CALL_TIMEOUT_MS)): Promise<boolean> {
    try {
      await this.call('image inspect', { image }, () =>
        abortable(this.docker.getImage(image).inspect(), signal),
      )
      return true
    } catch (error) {
      if (statusOf(error) === 404) return false
      throw error
    }
  }

  /** Creates and starts a container; removes it again when the start fails. */
  async run(options: Docker.ContainerCreateOptions, signal: AbortSignal): Promise<string> {
    const container = await this.call('container create', { name: options.name }, () =>
      this.docker.createContainer({ ...options, abortSignal: signal }),
    )
    try {
      await this.call('container start', { containerId: container.id }, () =>
        container.start({ abortSignal: signal }),
      )
      return container.id
    } catch (error) {
      await this.remove(container.id).catch(() => undefined)
      throw error
    }
  }

  /**
   * Removes a container with everything in it (SIGKILL, then delete). Idempotent: a container
   * that is gone (404) or already being removed (409, waited for) counts as removed.
   */
  async remove(containerId: string, signal = AbortSignal.timeout(CALL_TIMEOUT_MS)): Promise<void> {
    try {
      await this.call('container remove', { containerId }, () =>
        this.docker.getContainer(containerId).remove({ force: true, v: true, abortSignal: signal }),
      )
    } catch (error) {
      const status = statusOf(error)
      if (status === 404) return
      if (status !== 409) throw error
      // "removal of container … is already in progress": done once inspect says it is gone.
      while ((await this.state(containerId, signal)) !== undefined) {
        await abortable(new Promise((resolve) => setTimeout(resolve, 50)), signal)
      }
    }
  }

  /** Changes memory (and swap, kept equal: no swap), CPUs and pids of a running container. */
  async update(
    containerId: string,
    resources: ContainerResources,
    signal = AbortSignal.timeout(CALL_TIMEOUT_MS),
  ): Promise<void> {
    await this.call('container update', { containerId, ...resources }, () =>
      this.docker.getContainer(containerId).update({
        Memory: resources.memoryBytes,
        MemorySwap: resources.memoryBytes,
        NanoCpus: resources.nanoCpus,
        PidsLimit: resources.pids,
        abortSignal: signal,
      }),
    )
  }

  /** Renames a container: how a pooled container takes the name of the context it serves. */
  async rename(
    containerId: string,
    name: string,
    signal = AbortSignal.timeout(CALL_TIMEOUT_MS),
  ): Promise<void> {
    await this.call('container rename', { containerId, name }, () =>
      this.docker.getContainer(containerId).rename({ name, abortSignal: signal }),
    )
  }

  /** The container's state, or undefined when it does not exist. */
  async state(
    containerId: string,
    signal = AbortSignal.timeout(CALL_TIMEOUT_MS),
  ): Promise<ContainerState | undefined> {
    try {
      const info = await this.call('container inspect', { containerId }, () =>
        this.docker.getContainer(containerId).inspect({ abortSignal: signal }),
      )
      return {
        running: info.State.Running,
        exitCode: info.State.ExitCode,
      }
    } catch (error) {
      if (statusOf(error) === 404) return undefined
      throw error
    }
  }

  /** Containers (running or not) carrying every label of `labels` (`key=value`). */
  async list(
    labels: string[],
    signal = AbortSignal.timeout(CALL_TIMEOUT_MS),
  ): Promise<ContainerSummary[]> {
    const found = await this.call('container list', { labels }, () =>
      this.docker.listContainers({ all: true, filters: { label: labels }, abortSignal: signal }),
    )
    return found.map((c) => ({
      id: c.Id,
      name: (c.Names[0] ?? '').replace(/^\//, ''),
      labels: c.Labels,
    }))
  }

  /**
   * Streams container events matching `labels` until `signal` aborts.
   * @param since - resume after this event time (nanoseconds), so a reconnect misses nothing
   * @returns resolves when the stream ends (engine restarted, connection lost) or is aborted
   */
  async events(options: {
    labels: string[]
    actions: string[]
    since?: number
    signal: AbortSignal
    onEvent: (event: EngineEvent) => void
  }): Promise<void> {
    const { labels, actions, since, signal, onEvent } = options
    const query: Docker.GetEventsOptions & { abortSignal: AbortSignal } = {
      filters: { type: ['container'], label: labels, event: actions },
      // Whole seconds: a reconnect may see an event twice, and handlers are idempotent.
      ...(since ? { since: Math.floor(since / 1e9) } : {}),
      abortSignal: signal,
    }
    const stream = await this.call('events', { labels }, () => this.docker.getEvents(query))
    let buffered = ''
    await new Promise<void>((resolve) => {
      stream.on('data', (chunk: Buffer) => {
        buffered += chunk.toString('utf8')
        const lines = buffered.split('\n')
        buffered = lines.pop() ?? ''
        for (const line of lines) {
          const event = parseEvent(line)
          if (event) onEvent(event)
        }
      })
      stream.once('end', () => resolve())
      stream.once('close', () => resolve())
      stream.once('error', () => resolve())
    })
  }

  /**
   * Maps a directory of this process to the same directory as the engine sees it. The same path
   * unless the service itself runs in a container, where it is the source of the mount holding it.
   */
  async hostPathOf(dir: string): Promise<string> {
    const self = await ownContainerId()
    if (!self) return dir
    const info = await this.call('container inspect', { containerId: self }, () =>
      this.docker.getContainer(self).inspect({ abortSignal: AbortSignal.timeout(CALL_TIMEOUT_MS) }),
    )
    const mount = info.Mounts.filter(
      (m) => dir === m.Destination || dir.startsWith(`${m.Destination}/`),
    ).sort((a, b) => b.Destination.length - a.Destination.length)[0]
    if (!mount) {
      throw new Error(
        `${dir} is not on a volume or bind mount of this container (${self.slice(0, 12)}); mount one there, or set SANDBOX_DOCKER_SOCKET_HOST_DIR`,
      )
    }
    return path.join(mount.Source, path.relative(mount.Destination, dir))
  }

  private async call<T>(what: string, context: object, fn: () => Promise<T>): Promise<T> {
    const started = performance.now()
    try {
      const result = await fn()
      this.log.debug({ ...context, ms: Math.round(performance.now() - started) }, what)
      return result
    } catch (error) {
      this.log.debug({ ...context, err: error }, `${what} failed`)
      if (isUnreachable(error)) {
        throw new SandboxError('UNAVAILABLE', `The Docker engine at ${this.where} is unavailable`, {
          cause: error,
        })
      }
      throw error
    }
  }
}

/** HTTP status of a dockerode error, if the engine answered. */
export function statusOf(error: unknown): number | undefined {
  const status = (error as { statusCode?: unknown } | undefined)?.statusCode
  return typeof status === 'number' ? status : undefined
}

function isUnreachable(error: unknown): boolean {
  const code = (error as NodeJS.ErrnoException | undefined)?.code
  const name = (error as Error | undefined)?.name
  return (
    name === 'AbortError' ||
    name === 'TimeoutError' ||
    ['ECONNREFUSED', 'ENOENT', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'EACCES'].includes(code ?? '')
  )
}

function parseEvent(line: string): EngineEvent | undefined {
  if (!line.trim()) return undefined
  try {
    const raw = JSON.parse(line) as {
      Action?: string
      Actor?: { ID?: string; Attributes?: Record<string, string> }
      timeNano?: number
    }
    if (!raw.Action || !raw.Actor?.ID) return undefined
    return {
      action: raw.Action,
      containerId: raw.Actor.ID,
      timeNano: raw.timeNano ?? 0,
      attributes: raw.Actor.Attributes ?? {},
    }
  } catch {
    return undefined
  }
}

/** The id of the container this process runs in, from the engine's mounts of /etc/hostname. */
async function ownContainerId(): Promise<string | undefined> {
  const mountinfo = await readFile('/proc/self/mountinfo', 'utf8').catch(() => '')
  return /\/containers\/([0-9a-f]{64})\/(?:hostname|resolv\.conf|hosts)/.exec(mountinfo)?.[1]
}
