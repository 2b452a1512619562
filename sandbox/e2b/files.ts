// envd's HTTP file API (port 49983): GET /files streams a file, POST /files writes multipart
// parts or a raw octet-stream body; what the SDK's files.read and files.write call.
import { Readable } from 'node:stream'
import { Hono } from 'hono'
import type { Logger } from 'pino'
import type { Config } from '../config.js'
import type { ContextService } from '../contexts.js'
import { describeError, SandboxError } from '../errors.js'
import { hostCheck } from '../middleware/host-check.js'
import type { Workspace } from '../runtimes/runtime.js'
import { checkAccessToken } from './auth.js'
import type { DefaultContexts } from './defaults.js'
import { toE2bPath, toWorkspacePath } from './envd-paths.js'

export type EnvdDeps = {
  config: Config
  contexts: ContextService
  defaults: DefaultContexts
  log: Logger
}

/** The default Python context's files: envd's filesystem. */
export async function envdWorkspace({ contexts, defaults }: EnvdDeps): Promise<Workspace> {
  return contexts.workspace(await defaults.id('python'))
}

/**
 * The envd HTTP app: /health and /files. Errors answer as envd does, `{code, message}` with the
 * status the SDK maps to its errors (404 → FileNotFoundError, 400 → InvalidArgumentError).
 */
export function createEnvdHttpApp(deps: EnvdDeps) {
  const { config, log } = deps
  const app = new Hono()
  app.get('/health', (c) => c.body(null, 204))
  app.use(hostCheck(config.allowedHosts))
  app.use(async (c, next) => {
    checkAccessToken(config.apiKey, (name) => c.req.header(name))
    await next()
  })
  app.get('/files', async (c) => {
    const workspace = await envdWorkspace(deps)
    const relative = toWorkspacePath(requiredPath(c.req.query('path')), workspace.dir)
    const { body, size } = await workspace.read(relative)
    return c.body(body, 200, {
      'content-type': 'application/octet-stream',
      'content-length': String(size),
    })
  })
  app.post('/files', async (c) => {
    const workspace = await envdWorkspace(deps)
    const query = c.req.query('path')
    const uploads: { path: string; body: AsyncIterable<Uint8Array> }[] = []
    if ((c.req.header('content-type') ?? '').startsWith('multipart/form-data')) {
      for (const part of (await c.req.formData()).getAll('file')) {
        if (typeof part === 'string') continue
        const body = Readable.fromWeb(part.stream() as import('node:stream/web').ReadableStream)
        uploads.push({ path: query ?? part.name, body })
      }
    } else if (c.req.raw.body) {
      const body = Readable.fromWeb(c.req.raw.body as import('node:stream/web').ReadableStream)
      uploads.push({ path: requiredPath(query), body })
    }
    const written = []
    for (const upload of uploads) {
      const relative = toWorkspacePath(upload.path, workspace.dir)
      await workspace.write(relative, upload.body, config.maxFileBytes)
      const absolute = toE2bPath(relative, workspace.dir)
      written.push({ name: absolute.split('/').pop(), type: 'file', path: absolute })
    }
    if (written.length === 0) throw new SandboxError('INVALID_PARAMS', 'No file in the request')
    return c.json(written)
  })
  app.notFound((c) => c.json({ code: 404, message: 'Not Found' }, 404))
  app.onError((error, c) => {
    const { status, body, unexpected } = describeError(error)
    if (unexpected) log.error({ err: error }, 'e2b envd: unhandled error')
    return c.json({ code: status, message: body.error.message }, status)
  })
  return app
}

function requiredPath(path: string | undefined): string {
  if (!path) throw new SandboxError('INVALID_PARAMS', 'The "path" query parameter is required')
  return path
}
