import { type Config, loadConfig } from '../../sandbox/config.js'
import { startE2bServers } from '../../sandbox/e2b/server.js'
import { createLogger } from '../../sandbox/logger.js'
import { type RunningSandbox, startSandbox } from './sandbox.js'

/** The ports `Sandbox.create({ debug: true })` of E2B's SDK talks to. */
export const E2B_PORTS = { interpreter: 49_999, envd: 49_983 }

/**
 * The real sandbox (REST on a random port) with its E2B listeners on E2B's debug ports, so the
 * unmodified SDK reaches it.
 */
export async function startE2bSandbox(
  overrides: Partial<Config> = {},
): Promise<RunningSandbox & { e2bUrl: string }> {
  const running = await startSandbox(overrides)
  // The same settings startSandbox used, for the E2B listeners' auth, limits and host.
  const config = loadConfig({ LOG_LEVEL: process.env.LOG_LEVEL ?? 'warn' }, overrides)
  const e2b = await startE2bServers({
    config,
    contexts: running.sandbox.contexts,
    log: createLogger(config.logLevel),
    ports: E2B_PORTS,
  }).catch(async (error) => {
    await running.close()
    throw error
  })
  const close = async () => {
    try {
      await e2b.close()
    } finally {
      await running.close()
    }
  }
  return {
    ...running,
    e2bUrl: `http://localhost:${E2B_PORTS.interpreter}`,
    close,
    [Symbol.asyncDispose]: close,
  }
}
