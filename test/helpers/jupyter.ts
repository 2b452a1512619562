import path from 'node:path'
import type { Logger } from 'pino'
import { loadConfig } from '../../sandbox/config.js'
import { JupyterServer } from '../../sandbox/jupyter/server.js'

const config = loadConfig({})

/** A Jupyter Server of the service's own kind, its runtime and root dirs under `dir`. */
export function startJupyterServer(dir: string, log: Logger): Promise<JupyterServer> {
  return JupyterServer.start({
    python: config.python,
    runDir: path.join(dir, 'run'),
    rootDir: dir,
    startupTimeoutMs: 60_000,
    kernelMemoryMb: config.kernelMemoryMb,
    kernelMaxOutputChars: config.maxOutputChars,
    log,
    onUnexpectedExit: () => {},
  })
}
