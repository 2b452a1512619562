import { randomBytes } from 'node:crypto'
import { chmod, chown, mkdir, rm, writeFile } from 'node:fs/promises'
import path from 'node:path'
import type Docker from 'dockerode'
import type { Logger } from 'pino'
import type { AppliedLimits } from '../../api.js'
import { SandboxError } from '../../errors.js'
import type { JupyterKernel } from '../../jupyter/kernel.js'
import type { HostedKernel } from '../binding.js'
import type { ContainerResources, DockerEngine } from './engine.js'
import { UnixSocketClient } from './http.js'
import { ExecRelay } from './relay.js'
import { CONTAINER_WORKSPACE, type FilesEndpoint } from './workspace.js'

/** Where the shared directory (Jupyter's socket, the token file) appears inside the container. */
const CONTAINER_RUN_DIR = '/run/sci'
const JUPYTER_SOCKET = 'jupyter.sock'
const MIB = 1024 * 1024

export type KernelContainerOptions = {
  engine: DockerEngine
  /** Directory of this container's socket, as the service sees it and as the engine sees it. */
  dir: string
  hostDir: string
  name: string
  image: string
  uid: number
  gid: number
  labels: Record<string, string>
  limits: AppliedLimits
  /** `python3 -c` program that starts Jupyter Server in the container (assets/container_entry.py). */
  entrySource: string
  kernelSpecs: Record<string, unknown>
  /** runc: the service connects to the Jupyter socket itself; runsc: through an ExecRelay. */
  ociRuntime: 'runc' | 'runsc'
  /** The relay's `python3 -c` program (assets/relay.py). */
  relaySource: string
  log: Logger
}

/**
 * One context container: a Jupyter Server on a UNIX socket (reached directly under runc, through a
 * `docker exec` relay under gVisor, whose sockets the host cannot reach), hardened (non-root, read-only root,
 * no capabilities, no privilege gain, no network unless asked for) and limited (memory without
 * swap, CPUs, pids, /workspace size). Owns the container: remove() is idempotent and memoised.
 */
export class KernelContainer implements FilesEndpoint {
  readonly client: UnixSocketClient
  id: string | undefined
  /** The kernel started in it, once started. */
  kernel: JupyterKernel | undefined
  /** Set on Docker's `oom` event: the kernel's death was the memory limit. */
  oomKilled = false
  private limitHit: { reason: string; detail: string; at: number } | undefined
  private currentName: string
  private resources: ContainerResources
  private applied: AppliedLimits
  private removal: Promise<void> | undefined
  private relay: ExecRelay | undefined
  private died = false
  private readonly token = randomBytes(24).toString('hex')
  /** The Jupyter Server's socket as the service sees it: in the shared dir, or the relay's. */
  private readonly socketPath: string

  constructor(private readonly options: KernelContainerOptions) {
    this.socketPath =
      options.ociRuntime === 'runsc'
        ? `${options.dir}.sock`
        : path.join(options.dir, JUPYTER_SOCKET)
    this.client = new UnixSocketClient(this.socketPath, this.token)
    this.resources = resourcesOf(options.limits)
    this.applied = options.limits
    this.currentName = options.name
  }

  get name(): string {
    return this.currentName
  }

  /** Renames the container, e.g. after the context it now serves. */
  async rename(name: string): Promise<void> {
    if (!this.id) throw new Error(`container ${this.name} is not started`)
    await this.options.engine.rename(this.id, name)
    this.currentName = name
  }

  /**
   * Notes that the container hit a limit (the memory cgroup's OOM killer), so that a kernel death
   * right after is reported as that limit.
   * @param detail - the limit and how to change it, for the error message
   */
  noteLimitHit(reason: string, detail: string): void {
    this.limitHit = { reason, detail, at: Date.now() }
  }

  /** The limit noted within the last 10 s, if any; reading it clears it. */
  takeLimitHit(): { reason: string; detail: string } | undefined {
    const hit = this.limitHit
    this.limitHit = undefined
    return hit && Date.now() - hit.at < 10_000
      ? { reason: hit.reason, detail: hit.detail }
      : undefined
  }

  /** The limits in force: those it was created with, or those applied since. */
  get limits(): AppliedLimits {
    return this.applied
  }

  /** True once the container died or is being removed. */
  get gone(): boolean {
    return this.died || this.removal !== undefined
  }

  /** Creates the shared directory with the token file, then creates and starts the container. */
  async start(signal: AbortSignal): Promise<void> {
    await this.prepareDir()
    const { engine, ociRuntime, uid, gid, relaySource, log } = this.options
    this.id = await engine.run(this.createOptions(), signal)
    if (ociRuntime === 'runsc') {
      this.relay = await ExecRelay.listen({
        engine,
        containerId: this.id,
        socketPath: this.socketPath,
        target: path.posix.join(CONTAINER_RUN_DIR, JUPYTER_SOCKET),
        user: `${uid}:${gid}`,
        relaySource,
        log,
      })
    }
  }

  /** Waits until the container's Jupyter Server answers on its socket. */
  async waitReady(signal: AbortSignal): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      if (this.gone) throw new Error(`container ${this.name} exited during startup`)
      try {
        const response = await this.client.fetch('/api/status', { signal })
        await response.body?.cancel()
        if (response.status === 200) return
      } catch (error) {
        if (signal.aborted) throw error
      }
      // A container that exited at once never creates its socket: ask the engine now and then.
      if (attempt % 40 === 0 && this.id) {
        const state = await this.options.engine.state(this.id, signal)
        if (!state?.running)
          throw new Error(`container ${this.name} exited with code ${state?.exitCode ?? '?'}`)
      }
      await new Promise((resolve) => setTimeout(resolve, 25))
    }
  }

  /** Applies memory, CPU and pids limits to the running container (`docker update`) if they differ. */
  async applyLimits(limits: AppliedLimits): Promise<void> {
    const wanted = resourcesOf(limits)
    const current = this.resources
    const same =
      wanted.memoryBytes === current.memoryBytes &&
      wanted.nanoCpus === current.nanoCpus &&
      wanted.pids === current.pids
    if (!same) {
      if (!this.id) throw new Error(`container ${this.name} is not started`)
      await this.options.engine.update(this.id, wanted).catch((error: unknown) => {
        if (error instanceof SandboxError) throw error
        // E.g. a memory limit below what the container already uses.
        throw new SandboxError(
          'INVALID_PARAMS',
          `The context's limits could not be applied (memory_mb ${limits.memory_mb}, cpus ${limits.cpus}, pids ${limits.pids}): ${error instanceof Error ? error.message : error}`,
          { cause: error },
        )
      })
      this.resources = wanted
    }
    this.applied = limits
  }

  /** Notes that the container died on its own (killed, OOM of its init, engine stop). */
  markDied(): void {
    this.died = true
  }

  /** Removes the container and its directory. Idempotent; concurrent calls share one removal. */
  remove(): Promise<void> {
    this.removal ??= (async () => {
      try {
        // By name when the create was cut short: the engine may have made it all the same.
        await this.options.engine.remove(this.id ?? this.currentName)
      } finally {
        this.client.close()
        try {
          await this.relay?.close()
        } finally {
          await rm(this.options.dir, { recursive: true, force: true })
        }
      }
    })()
    return this.removal
  }

  private async prepareDir(): Promise<void> {
    const { dir, uid, gid } = this.options
    await mkdir(dir, { mode: 0o700 })
    const tokenFile = path.join(dir, 'token')
    await writeFile(tokenFile, this.token, { mode: 0o600 })
    // The container's user must create its socket here and read (then delete) the token.
    await shareWith(dir, uid, gid, 0o777)
    await shareWith(tokenFile, uid, gid, 0o644)
  }

  private createOptions(): Docker.ContainerCreateOptions {
    const { name, image, uid, gid, labels, limits, hostDir, entrySource, kernelSpecs, ociRuntime } =
      this.options
    const { memoryBytes, nanoCpus, pids } = this.resources
    return {
      name,
      Image: image,
      User: `${uid}:${gid}`,
      Labels: labels,
      WorkingDir: CONTAINER_WORKSPACE,
      // tini reaps what user code forks and forwards signals; the image's entrypoint is not used.
      Entrypoint: ['tini', '--'],
      Cmd: ['/usr/bin/python3', '-c', entrySource],
      // The image's HEALTHCHECK probes the service's port, which does not run here.
      Healthcheck: { Test: ['NONE'] },
      Env: [
        'PATH=/usr/local/bin:/usr/bin:/bin',
        'LANG=C.UTF-8',
        'HOME=/tmp/home',
        'MPLBACKEND=module://matplotlib_inline.backend_inline',
        'MPLCONFIGDIR=/tmp/home/.matplotlib',
        `SCI_RUN_DIR=${CONTAINER_RUN_DIR}`,
        `SCI_KERNELSPECS=${JSON.stringify(kernelSpecs)}`,
      ],
      HostConfig: {
        Runtime: ociRuntime,
        NetworkMode: limits.network,
        ReadonlyRootfs: true,
        CapDrop: ['ALL'],
        SecurityOpt: ['no-new-privileges'],
        Memory: memoryBytes,
        MemorySwap: memoryBytes,
        NanoCpus: nanoCpus,
        PidsLimit: pids,
        IpcMode: 'private',
        ShmSize: 64 * MIB,
        Tmpfs: {
          [CONTAINER_WORKSPACE]: `rw,exec,nosuid,nodev,size=${limits.workspace_mb}m,uid=${uid},gid=${gid},mode=0700`,
          '/tmp': 'rw,exec,nosuid,nodev,size=64m,mode=1777',
        },
        Mounts: [{ Type: 'bind', Source: hostDir, Target: CONTAINER_RUN_DIR, ReadOnly: false }],
        // What a kernel writes to its own stderr ends up here: keep it from filling the host disk.
        LogConfig: { Type: 'json-file', Config: { 'max-size': '1m', 'max-file': '1' } },
        RestartPolicy: { Name: 'no' },
      },
    }
  }
}

function resourcesOf(limits: AppliedLimits): ContainerResources {
  return {
    memoryBytes: limits.memory_mb * MIB,
    nanoCpus: Math.round(limits.cpus * 1e9),
    pids: limits.pids,
  }
}

/** Hands a file to the container's user: chown when we may (root), else open up the mode. */
async function shareWith(file: string, uid: number, gid: number, fallbackMode: number) {
  try {
    await chown(file, uid, gid)
  } catch {
    // Not root and not that user: the directory above is the service's own (0700), so only the
    // container, which sees this directory alone, gains access.
    await chmod(file, fallbackMode)
  }
}

/** A kernel and the container that hosts it: shutting it down removes the container. */
export class ContainerKernel implements HostedKernel {
  constructor(
    readonly kernel: JupyterKernel,
    readonly container: KernelContainer,
    private readonly remove: () => Promise<void>,
  ) {}

  get usable(): boolean {
    return this.kernel.usable
  }

  /** No graceful shutdown through Jupyter: the whole container goes. */
  async shutdown(): Promise<void> {
    this.kernel.detach()
    await this.remove()
  }
}
