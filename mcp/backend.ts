import type { Logger } from 'pino'
import type { McpConfig } from './config.js'
import { createSandboxClient, type SandboxClient } from './sandbox-client.js'

/** The sandbox the tools call: a remote service, or one running inside this process. */
export type Backend = { client: SandboxClient; close(): Promise<void> }

/**
 * Connects to the sandbox at SANDBOX_BASE_URL, or starts one in-process when it is unset
 * (embedded mode: Jupyter and the kernels run as children of this process).
 */
export async function connectSandbox(config: McpConfig, log: Logger): Promise<Backend> {
  const { sandboxBaseUrl, sandboxApiKey, requestTimeoutMs } = config
  if (sandboxBaseUrl === undefined) {
    // Imported only here: remote mode never loads the sandbox and its Jupyter client.
    const { startEmbeddedSandbox } = await import('./embedded.js')
    return startEmbeddedSandbox(config, log)
  }
  log.info({ sandboxBaseUrl }, 'using the remote sandbox')
  const client = createSandboxClient({
    fetch: (input, init) => fetch(input, init),
    baseUrl: sandboxBaseUrl,
    apiKey: sandboxApiKey,
    requestTimeoutMs,
  })
  return { client, close: async () => {} }
}
