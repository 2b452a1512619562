#!/usr/bin/env node
import { serve } from '@hono/node-server'
import { loadConfig } from './config.js'
import { startE2bServers } from './e2b/server.js'
import { createLogger } from './logger.js'
import { createSandbox } from './sandbox.js'

const config = loadConfig()
const log = createLogger(config.logLevel)
if (!config.apiKey && !['127.0.0.1', 'localhost', '::1'].includes(config.host)) {
  log.warn(
    { host: config.host },
    'SANDBOX_API_KEY is not set and the API listens beyond loopback: anyone who can reach it can run code',
  )
}
const sandbox = await createSandbox(config, log)
// The E2B SDK's ports (SANDBOX_E2B_PORT, SANDBOX_ENVD_PORT), over the same contexts. Bound before
// the API answers /health: a port that is taken ends the service at once, with a clear line.
const e2b = await startE2bServers({ config, contexts: sandbox.contexts, log }).catch(
  async (error: unknown) => {
    log.fatal(
      { err: error },
      'cannot listen for the E2B SDK; free the port or change SANDBOX_E2B_PORT / SANDBOX_ENVD_PORT (0 turns one off)',
    )
    await sandbox.close()
    process.exit(1)
  },
)
const server = serve(
  { fetch: sandbox.app.fetch, hostname: config.host, port: config.port },
  (info) => log.info({ host: info.address, port: info.port }, 'sandbox listening'),
)

let stopping = false
async function shutdown(signal: string): Promise<void> {
  if (stopping) return
  stopping = true
  log.info({ signal }, 'shutting down')
  server.close()
  try {
    try {
      await e2b.close()
    } finally {
      await sandbox.close()
    }
  } finally {
    process.exit(0)
  }
}
process.on('SIGTERM', () => void shutdown('SIGTERM'))
process.on('SIGINT', () => void shutdown('SIGINT'))
