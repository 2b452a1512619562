// The E2B front door: the code interpreter (49999) and envd (49983) listeners of the sandbox
// service, bound like the main API and closed with it.
import { createServer, type RequestListener, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import type { Interceptor } from '@connectrpc/connect'
import { connectNodeAdapter } from '@connectrpc/connect-node'
import { getRequestListener } from '@hono/node-server'
import type { Logger } from 'pino'
import type { Config } from '../config.js'
import type { ContextService } from '../contexts.js'
import { checkAccessToken, checkHost } from './auth.js'
import { DefaultContexts } from './defaults.js'
import { createEnvdHttpApp, type EnvdDeps } from './files.js'
import { filesystemService } from './filesystem.js'
import { Filesystem } from './gen/filesystem/filesystem_pb.js'
import { Process } from './gen/process/process_pb.js'
import { createInterpreterApp } from './interpreter.js'
import { processService } from './process.js'
import { asConnect } from './rpc-errors.js'

export type E2bServers = AsyncDisposable & {
  /** Ports actually bound (0 when that listener is off); tests pass port 0 for a free one. */
  ports: { interpreter: number; envd: number }
  close(): Promise<void>
}

/**
 * Starts the E2B-compatible listeners on SANDBOX_E2B_PORT and SANDBOX_ENVD_PORT (0 = off).
 * @param options.ports - explicit ports, for tests; default the config's
 * @example
 * await using e2b = await startE2bServers({ config, contexts: sandbox.contexts, log })
 */
export async function startE2bServers(options: {
  config: Config
  contexts: ContextService
  log: Logger
  ports?: { interpreter: number; envd: number }
}): Promise<E2bServers> {
  const { config, contexts, log } = options
  const wanted = options.ports ?? { interpreter: config.e2bPort, envd: config.envdPort }
  const deps: EnvdDeps = { config, contexts, defaults: new DefaultContexts(contexts), log }
  const servers: Server[] = []
  const listen = async (port: number, listener: RequestListener, name: string) => {
    if (port === 0 && !options.ports) return 0
    const server = createServer(listener)
    servers.push(server)
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject)
      server.listen(port, config.host, () => resolve())
    })
    const bound = (server.address() as AddressInfo).port
    log.info({ host: config.host, port: bound }, `${name} listening`)
    return bound
  }
  let closing: Promise<void> | undefined
  const close = () => {
    closing ??= Promise.all(servers.map(closeServer)).then(() => undefined)
    return closing
  }
  try {
    const interpreter = await listen(
      wanted.interpreter,
      getRequestListener(createInterpreterApp(deps).fetch),
      'e2b code interpreter',
    )
    const envd = await listen(wanted.envd, envdListener(deps), 'e2b envd')
    return { ports: { interpreter, envd }, close, [Symbol.asyncDispose]: close }
  } catch (error) {
    await close()
    throw error
  }
}

/** envd: the Connect services, and the HTTP file API for every other path. */
function envdListener(deps: EnvdDeps): RequestListener {
  const { config } = deps
  const guard: Interceptor = (next) => (request) =>
    asConnect(async () => {
      checkHost(config.allowedHosts, request.header.get('host') ?? undefined)
      checkAccessToken(config.apiKey, (name) => request.header.get(name) ?? undefined)
    }).then(() => next(request))
  const files = getRequestListener(createEnvdHttpApp(deps).fetch)
  return connectNodeAdapter({
    routes: (router) => {
      router.service(Filesystem, filesystemService(deps))
      router.service(Process, processService(deps))
    },
    interceptors: [guard],
    // Our server is HTTP/1.1 only: the fallback gets node:http's request and response.
    fallback: (request, response) => void files(request, response as ServerResponse),
  })
}

async function closeServer(server: Server): Promise<void> {
  await new Promise<void>((resolve) => {
    server.close(() => resolve())
    // Streams of running cells end with their context; idle keep-alive sockets would hold close().
    server.closeIdleConnections()
  })
}
