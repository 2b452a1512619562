import type { Language } from '../sandbox/api.js'
import { loadConfig } from '../sandbox/config.js'
import { abortable } from '../sandbox/jupyter/kernel.js'
import { createLogger } from '../sandbox/logger.js'
import { createSandbox, type Sandbox } from '../sandbox/sandbox.js'
import { createEvalClient, type EvalClient } from './client.js'

const POOL_VARIABLE: Record<Language, string> = {
  python: 'SANDBOX_POOL_PYTHON',
  javascript: 'SANDBOX_POOL_JAVASCRIPT',
  typescript: 'SANDBOX_POOL_TYPESCRIPT',
}

/** An embedded sandbox and the client of its API. */
export type EmbeddedSandbox = { client: EvalClient; sandbox: Sandbox; close: () => Promise<void> }

/**
 * Starts the sandbox inside this process, configured by the same SANDBOX_* variables as
 * sandbox-server, and a client that reaches it through the app's own fetch (no port).
 * Unless the environment says otherwise, it logs warnings only and keeps warm kernels for the
 * languages the cases use, as many as run at once but at least 2, and none for the others.
 * (With 1 warm kernel, one case at a time often waits for a whole kernel start: measured on
 * 2 cores, 1.3–2.3 jobs/s against 2.4 with 2.)
 * @param env - the environment; SANDBOX_* variables in it win over the defaults above
 */
export async function startEmbedded(options: {
  env: Record<string, string | undefined>
  languages: ReadonlySet<Language>
  concurrency: number
}): Promise<EmbeddedSandbox> {
  const defaults: Record<string, string> = { LOG_LEVEL: 'warn' }
  const warm = String(Math.max(options.concurrency, 2))
  for (const [language, variable] of Object.entries(POOL_VARIABLE)) {
    defaults[variable] = options.languages.has(language as Language) ? warm : '0'
  }
  const config = loadConfig({ ...defaults, ...options.env })
  // Also routes @jupyterlab/services' console.log chatter to the logger: stdout may carry results.
  const log = createLogger(config.logLevel)
  const sandbox = await createSandbox(config, log)
  const client = createEvalClient({
    // The app answers an aborted request too (with the interrupted cell); reject at once instead,
    // as a remote fetch does, so a cancelled case ends without waiting for the kernel.
    fetch: async (input, init) => {
      const response = Promise.resolve(sandbox.app.fetch(new Request(input, init)))
      return init.signal ? abortable(response, init.signal) : response
    },
    // A loopback name: the sandbox refuses other Host names (DNS rebinding protection).
    baseUrl: 'http://localhost',
    apiKey: config.apiKey,
  })
  return { client, sandbox, close: () => sandbox.close() }
}
