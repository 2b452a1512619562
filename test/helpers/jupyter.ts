import { writeFile } from 'node:fs/promises'
import path from 'node:path'
import type { Logger } from 'pino'
import { loadConfig } from '../../sandbox/config.js'
import { freePort, JupyterServer } from '../../sandbox/jupyter/server.js'

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

/**
 * Writes a kernel connection file as Jupyter would, on free ports of 127.0.0.1 unless `ports`
 * names some; returns its content.
 */
export async function writeConnectionFile(
  file: string,
  kernelName: string,
  ports: Record<string, number> = {},
): Promise<string> {
  const all = { ...ports }
  for (const name of ['shell_port', 'iopub_port', 'stdin_port', 'hb_port', 'control_port']) {
    all[name] ??= await freePort()
  }
  const content = JSON.stringify({
    ...all,
    ip: '127.0.0.1',
    transport: 'tcp',
    key: 'test-key',
    signature_scheme: 'hmac-sha256',
    kernel_name: kernelName,
  })
  await writeFile(file, content, { mode: 0o600 })
  return content
}
