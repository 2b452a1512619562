import { type ChildProcess, spawn } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { chmod, mkdir, readFile, writeFile } from 'node:fs/promises'
import net from 'node:net'
import path from 'node:path'
import { ServerConnection } from '@jupyterlab/services'
import type { Logger } from 'pino'
import WebSocket from 'ws'
import { ASSETS_DIR, kernelSpecs } from './kernelspecs.js'

export type JupyterServerOptions = {
  python: string
  /** Private directory for kernelspecs, Jupyter config and runtime files of this server. */
  runDir: string
  /** Directory the server serves and kernels start in. */
  rootDir: string
  startupTimeoutMs: number
  /** Per-kernel memory cap in MiB; 0 = none. */
  kernelMemoryMb: number
  /** Output a kernel sends per execution before dropping the rest at the source; 0 = no cap. */
  kernelMaxOutputChars: number
  /** TCP_NODELAY on kernel WebSockets; only the benchmark turns it off, to show what it saves. */
  nodelay?: boolean
  /**
   * Python kernels forked from a warm template process (kernel_template.py) instead of started cold.
   * @default false
   */
  kernelTemplate?: boolean
  /**
   * With the template: a spare kernel readied before each start (sci_spare_kernel.py). Only the
   * benchmark turns it off, to show what it saves.
   * @default true
   */
  kernelSpares?: boolean
  /**
   * "start:count:nproc" of the kernel uid range (KernelUids.spec): each kernel then runs as the
   * owner of its start dir, and the runtime dir lets kernels reach their own connection file by
   * name but list nothing. Unset: kernels run as the server.
   */
  kernelUids?: string
  log: Logger
  /** Called once if the process exits without close() having been called. */
  onUnexpectedExit: (code: number | null, signal: NodeJS.Signals | null) => void
}

/**
 * A Jupyter Server child process on loopback with a random token, its own kernelspecs and no
 * extensions. Owns the process: close() stops it and the kernels it started.
 */
export class JupyterServer {
  private closing = false
  private exited: Promise<void>

  private constructor(
    private readonly child: ChildProcess,
    readonly settings: ServerConnection.ISettings,
    private readonly log: Logger,
    onUnexpectedExit: JupyterServerOptions['onUnexpectedExit'],
    private readonly runtimeDir: string,
  ) {
    this.exited = new Promise((resolve) => {
      child.once('exit', (code, signal) => {
        if (!this.closing) onUnexpectedExit(code, signal)
        resolve()
      })
    })
  }

  /** Starts the server and waits until its REST API answers. */
  static async start(options: JupyterServerOptions): Promise<JupyterServer> {
    const { python, runDir, rootDir, log, kernelTemplate = false } = options
    const port = await freePort()
    const token = randomBytes(24).toString('hex')
    const dirs = await prepareDirs(runDir, options.kernelUids !== undefined)
    await writeKernelSpecs(
      dirs.data,
      kernelSpecs(python, options.kernelMemoryMb, options.kernelMaxOutputChars, true),
    )
    const child = spawn(
      python,
      ['-m', 'jupyter_server', `--config=${path.join(ASSETS_DIR, 'jupyter_server_config.py')}`],
      {
        cwd: rootDir,
        // Its own process group: Ctrl-C in a terminal reaches the service, which stops the server
        // and its kernels in order, instead of killing them under it.
        detached: true,
        stdio: ['ignore', 'ignore', 'pipe'],
        env: {
          // Kernels inherit this environment: nothing of the service's own (API key, tokens).
          PATH: process.env.PATH ?? '/usr/local/bin:/usr/bin:/bin',
          LANG: 'C.UTF-8',
          HOME: dirs.home,
          JUPYTER_PATH: dirs.data,
          JUPYTER_DATA_DIR: dirs.data,
          JUPYTER_CONFIG_DIR: dirs.config,
          JUPYTER_CONFIG_PATH: dirs.config,
          JUPYTER_RUNTIME_DIR: dirs.runtime,
          MPLBACKEND: 'module://matplotlib_inline.backend_inline',
          MPLCONFIGDIR: dirs.matplotlib,
          SCI_JUPYTER_PORT: String(port),
          SCI_JUPYTER_TOKEN: token,
          SCI_JUPYTER_ROOT: rootDir,
          SCI_JUPYTER_NODELAY: options.nodelay === false ? '0' : '1',
          SCI_KERNEL_TEMPLATE: kernelTemplate ? '1' : '0',
          SCI_KERNEL_SPARES: options.kernelSpares === false ? '0' : '1',
          ...(options.kernelUids && { SCI_KERNEL_UIDS: options.kernelUids }),
        },
      },
    )
    const serverLog = log.child({ component: 'jupyter-server', pid: child.pid })
    child.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
      for (const line of chunk.split('\n')) if (line.trim()) logServerLine(serverLog, line)
    })
    const settings = ServerConnection.makeSettings({
      baseUrl: `http://127.0.0.1:${port}/`,
      wsUrl: `ws://127.0.0.1:${port}/`,
      token,
      appendToken: true,
      WebSocket: WebSocket as unknown as typeof globalThis.WebSocket,
      fetch: globalThis.fetch.bind(globalThis),
    })
    const server = new JupyterServer(
      child,
      settings,
      serverLog,
      options.onUnexpectedExit,
      dirs.runtime,
    )
    try {
      await server.waitReady(options.startupTimeoutMs)
    } catch (error) {
      await server.close()
      throw error
    }
    serverLog.info({ port }, 'jupyter server ready')
    return server
  }

  get pid(): number | undefined {
    return this.child.pid
  }

  /**
   * Kernel starts by path since this server started: the template's spare kernel, forked from the
   * template or started cold (template off, starting, dead or unable to fork), and the templates'
   * pids while they run.
   */
  async kernelStarts(): Promise<KernelStarts> {
    try {
      const stats = JSON.parse(await readFile(path.join(this.runtimeDir, STARTS_FILE), 'utf8'))
      return {
        spare: 0,
        template: 0,
        cold: 0,
        ...stats.starts,
        templatePid: stats.template_pid ?? undefined,
        stdlibTemplatePid: stats.stdlib_template_pid ?? undefined,
        copiedKib: stats.copied_kib ?? {},
      }
    } catch {
      // No Python kernel started yet and no template: nothing written.
      return { spare: 0, template: 0, cold: 0, copiedKib: {} }
    }
  }

  /** Stops the server (SIGTERM, which stops its kernels), then SIGKILL after 5 s. Idempotent. */
  async close(): Promise<void> {
    this.closing = true
    if (this.child.exitCode !== null || this.child.signalCode !== null) return
    this.child.kill('SIGTERM')
    const killTimer = setTimeout(() => this.child.kill('SIGKILL'), 5000)
    try {
      await this.exited
      this.log.info('jupyter server stopped')
    } finally {
      clearTimeout(killTimer)
    }
  }

  private async waitReady(timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs
    const url = `${this.settings.baseUrl}api/status`
    const headers = { Authorization: `token ${this.settings.token}` }
    while (Date.now() < deadline) {
      if (this.child.exitCode !== null) {
        throw new Error(`Jupyter Server exited with code ${this.child.exitCode} during startup`)
      }
      try {
        const response = await fetch(url, { headers, signal: AbortSignal.timeout(1000) })
        if (response.status === 200) return
      } catch {
        // Not listening yet.
      }
      await new Promise((resolve) => setTimeout(resolve, 50))
    }
    throw new Error(`Jupyter Server did not answer within ${timeoutMs} ms`)
  }
}

/**
 * Kernel starts per path, as the provisioner counts them (sci_kernel_provisioner.py); the pids of
 * the scientific template (kernels and runs) and of the stdlib one (runs of stdlib-only code); per
 * ready template, the KiB of its memory that each kernel's start and each run copies ahead
 * (sci_copied_pages.py).
 */
export type KernelStarts = {
  spare: number
  template: number
  cold: number
  templatePid?: number
  stdlibTemplatePid?: number
  copiedKib: Partial<Record<'scientific' | 'stdlib', { kernel: number; run: number }>>
}

/** Written by the provisioner into the server's runtime dir. */
const STARTS_FILE = 'sci-kernel-starts.json'

/** The `key=value` fields of a line, as an object. */
function fieldsOf(text: string): Record<string, string> {
  return Object.fromEntries(
    text.split(' ').map((field) => {
      const at = field.indexOf('=')
      return [field.slice(0, at), field.slice(at + 1)]
    }),
  )
}

/**
 * Logs a line of the server's stderr: which path each kernel start took, and the template's
 * life, at info; a tslab kernel's start phases (tslab_start.cjs) at debug, or at warn when one
 * failed or is still not ready; a kernel given new ports (sci_kernel_ports.py) at warn; the rest
 * at debug.
 */
function logServerLine(log: Logger, line: string): void {
  const start = /sci-kernel-start (.*)$/.exec(line)
  const tslabPhase = /sci-tslab-start (.*)$/.exec(line)
  if (start?.[1]) {
    const fields = fieldsOf(start[1])
    log.info(fields, `kernel started (${fields.path})`)
  } else if (tslabPhase?.[1]) {
    const fields = fieldsOf(tslabPhase[1])
    const stuck = fields.phase === 'failed' || fields.phase === 'waiting'
    log[stuck ? 'warn' : 'debug'](fields, `tslab kernel start: ${fields.phase}`)
  } else if (/sci-kernel-ports/.test(line)) {
    log.warn(line)
  } else if (/sci-kernel-template|kernel template/.test(line)) {
    log.info(line)
  } else {
    log.debug(line)
  }
}

/**
 * @param kernelUids - kernels run as other uids: the run dir and the runtime dir are searchable
 *   (0711) so that a kernel opens its own connection file, which the provisioner hands to its uid;
 *   everything else, the server's jpserver-*.json with its token included, stays the server's.
 */
async function prepareDirs(runDir: string, kernelUids: boolean) {
  const dirs = {
    data: path.join(runDir, 'data'),
    config: path.join(runDir, 'config'),
    runtime: path.join(runDir, 'runtime'),
    home: path.join(runDir, 'home'),
  }
  for (const dir of Object.values(dirs)) await mkdir(dir, { recursive: true, mode: 0o700 })
  // The kernel template imports matplotlib here, and matplotlib keeps the config dir it found
  // then: forked kernels of other uids list it (for style sheets), so they must be able to read it.
  const matplotlib = path.join(kernelUids ? runDir : dirs.home, 'matplotlib')
  await mkdir(matplotlib, { recursive: true, mode: 0o700 })
  if (kernelUids) {
    for (const dir of [runDir, dirs.runtime]) await chmod(dir, 0o711)
    await chmod(matplotlib, 0o755)
  }
  return { ...dirs, matplotlib }
}

async function writeKernelSpecs(
  dataDir: string,
  specs: ReturnType<typeof kernelSpecs>,
): Promise<void> {
  for (const [name, spec] of Object.entries(specs)) {
    const dir = path.join(dataDir, 'kernels', name)
    await mkdir(dir, { recursive: true })
    await writeFile(path.join(dir, 'kernel.json'), JSON.stringify(spec, null, 2))
  }
}

/** Asks the OS for a free loopback port. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer()
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const address = server.address()
      server.close(() =>
        typeof address === 'object' && address ? resolve(address.port) : reject(),
      )
    })
  })
}
