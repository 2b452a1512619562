import type { Logger } from 'pino'
import { createSandboxClient, type SandboxClient } from '../client/index.js'
import type { McpConfig } from './config.js'

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
    const { startEmbeddedSandbox } = await import('../client/embedded.js')
    const embedded = await startEmbeddedSandbox({ requestTimeoutMs })
    log.info('embedded sandbox started')
    return embedded
  }
  log.info({ sandboxBaseUrl }, 'using the remote sandbox')
  const client = createSandboxClient({
    baseUrl: sandboxBaseUrl,
    apiKey: sandboxApiKey,
    requestTimeoutMs,
  })
  return { client, close: async () => {} }
}
