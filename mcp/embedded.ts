import type { Logger } from 'pino'
import { loadConfig } from '../sandbox/config.js'
import { createLogger } from '../sandbox/logger.js'
import { createSandbox } from '../sandbox/sandbox.js'
import type { Backend } from './backend.js'
import type { McpConfig } from './config.js'
import { createSandboxClient } from './sandbox-client.js'

/**
 * Starts the sandbox service inside this process, configured by the same SANDBOX_* variables as
 * sandbox-server. Its API is reached through the app's own fetch: no port, the same client code.
 */
export async function startEmbeddedSandbox(config: McpConfig, log: Logger): Promise<Backend> {
  const sandboxConfig = loadConfig()
  // Also routes @jupyterlab/services' console chatter to stderr: stdout is the stdio transport's.
  const sandboxLog = createLogger(sandboxConfig.logLevel)
  const sandbox = await createSandbox(sandboxConfig, sandboxLog)
  log.info({ workspaceRoot: sandboxConfig.workspaceRoot }, 'embedded sandbox started')
  const client = createSandboxClient({
    fetch: async (input, init) => sandbox.app.fetch(new Request(input, init)),
    // A loopback name: the sandbox refuses other Host names (DNS rebinding protection).
    baseUrl: 'http://localhost',
    apiKey: sandboxConfig.apiKey,
    requestTimeoutMs: config.requestTimeoutMs,
  })
  return { client, close: () => sandbox.close() }
}
