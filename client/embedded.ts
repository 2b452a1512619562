/**
 * The one way to run the sandbox inside this process (embedded mode of sandbox-mcp and
 * sandbox-eval, and the benches): the real service, reached through its app's own fetch, no port.
 */
import { loadConfig } from '../sandbox/config.js'
import { abortable } from '../sandbox/jupyter/kernel.js'
import { createLogger } from '../sandbox/logger.js'
import { createSandbox, type Sandbox } from '../sandbox/sandbox.js'
import {
  createSandboxClient,
  type SandboxClient,
  type SandboxClientOptions,
} from './sandbox-client.js'

/** An embedded sandbox and the client of its API. */
export type EmbeddedSandbox = AsyncDisposable & {
  client: SandboxClient
  sandbox: Sandbox
  /** Stops every context, the kernels and the Jupyter Server. Idempotent. */
  close: () => Promise<void>
}

export type EmbeddedSandboxOptions = Pick<
  SandboxClientOptions,
  'requestTimeoutMs' | 'retryLimitMs'
> & {
  /**
   * The environment the sandbox reads its SANDBOX_* settings and LOG_LEVEL from.
   * @default process.env
   */
  env?: Record<string, string | undefined>
  /** Settings used where `env` sets none, e.g. `{ LOG_LEVEL: 'warn' }`. */
  defaults?: Record<string, string>
}

/**
 * Starts the sandbox service inside this process, configured by the same SANDBOX_* variables as
 * sandbox-server, and a client that reaches it through the app's own fetch.
 * @example
 * await using embedded = await startEmbeddedSandbox({ defaults: { LOG_LEVEL: 'warn' } })
 * await embedded.client.runOnce({ code: 'print(1)' })
 */
export async function startEmbeddedSandbox({
  env = process.env,
  defaults = {},
  ...clientOptions
}: EmbeddedSandboxOptions = {}): Promise<EmbeddedSandbox> {
  const config = loadConfig({ ...defaults, ...env })
  // Also routes @jupyterlab/services' console chatter to stderr: stdout may carry a protocol or results.
  const log = createLogger(config.logLevel)
  const sandbox = await createSandbox(config, log)
  const client = createSandboxClient({
    ...clientOptions,
    // The app answers an aborted request too (with the interrupted cell, or an error event to
    // end a stream); reject at once instead, and error the body as it is read, as a remote fetch
    // does, so a cancelled call ends without waiting for the kernel.
    fetch: async (input, init) => {
      const { signal } = init
      const answer = Promise.resolve(sandbox.app.fetch(new Request(input, init)))
      if (!signal) return answer
      const response = await abortable(answer, signal)
      if (!response.body) return response
      return new Response(response.body.pipeThrough(new TransformStream(), { signal }), response)
    },
    // A loopback name: the sandbox refuses other Host names (DNS rebinding protection).
    baseUrl: 'http://localhost',
    apiKey: config.apiKey,
  })
  const close = () => sandbox.close()
  return { client, sandbox, close, [Symbol.asyncDispose]: close }
}
