#!/usr/bin/env node
import { StdioServerTransport } from '@modelcontextprotocol/sdk/server/stdio.js'
import pino from 'pino'
import { connectSandbox } from './backend.js'
import { loadMcpConfig } from './config.js'
import { DefaultContexts } from './default-contexts.js'
import { serveHttp } from './http.js'
import { createServer } from './server.js'

const config = loadMcpConfig()
// stderr only: with the stdio transport, stdout carries the protocol.
const log = pino({ level: config.logLevel, base: { service: 'mcp' } }, pino.destination(2))
const backend = await connectSandbox(config, log)
const defaults = new DefaultContexts(backend.client)
const deps = { sandbox: backend.client, defaults, log }

let stopTransport: () => Promise<void>
if (config.transport === 'http') {
  stopTransport = (await serveHttp(config, deps)).close
} else {
  const { server, cleanup } = createServer(deps)
  await server.connect(new StdioServerTransport())
  stopTransport = cleanup
  // The client closing our stdin is how stdio sessions end.
  process.stdin.once('end', () => void shutdown('stdin closed'))
}

let stopping = false
async function shutdown(why: string): Promise<void> {
  if (stopping) return
  stopping = true
  log.info({ why }, 'shutting down')
  // An embedded sandbox stops every context as it closes; a remote one would keep ours until reaped.
  const closeDefaults = config.sandboxBaseUrl ? () => defaults.close() : async () => {}
  const steps = [stopTransport, closeDefaults, () => backend.close()]
  for (const step of steps) await step().catch((error) => log.warn({ err: error }, 'shutdown'))
  process.exit(0)
}
process.on('SIGTERM', () => void shutdown('SIGTERM'))
process.on('SIGINT', () => void shutdown('SIGINT'))
