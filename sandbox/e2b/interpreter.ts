// The E2B code-interpreter API (port 49999): /execute as JSON lines and /contexts, answered the
// way E2B's own server answers, over ContextService.
import { Hono } from 'hono'
import { stream } from 'hono/streaming'
import type { Logger } from 'pino'
import { z } from 'zod'
import type { Context, ExecutionEvent, Language } from '../api.js'
import type { Config } from '../config.js'
import type { ContextService } from '../contexts.js'
import { describeError, SandboxError } from '../errors.js'
import { hostCheck } from '../middleware/host-check.js'
import { checkAccessToken } from './auth.js'
import { type DefaultContexts, normalizeLanguage } from './defaults.js'
import { withEnvVars } from './env-vars.js'
import { type E2bLine, eventLines } from './events.js'

/** E2B's server writes a keepalive line after this much silence, so proxies keep the stream. */
export const KEEPALIVE_MS = 5_000 // 5 s

const ExecuteRequest = z.object({
  code: z.string(),
  context_id: z.string().nullish(),
  language: z.string().nullish(),
  env_vars: z.record(z.string(), z.string()).nullish(),
})

const CreateContextRequest = z.object({
  cwd: z.string().nullish(),
  language: z.string().nullish(),
})

/** E2B's default working dir, which means "the context's own" here. */
const E2B_HOME = '/home/user'

export type InterpreterDeps = {
  config: Config
  contexts: ContextService
  defaults: DefaultContexts
  log: Logger
}

/**
 * The code-interpreter app. Bad input answers as FastAPI does in E2B's server (422 with
 * `detail`), an unknown context 404 with a plain-text message; so the SDK raises its own errors.
 */
export function createInterpreterApp({ config, contexts, defaults, log }: InterpreterDeps) {
  const app = new Hono()
  app.get('/health', (c) => c.json('OK'))
  app.use(hostCheck(config.allowedHosts))
  app.use(async (c, next) => {
    checkAccessToken(config.apiKey, (name) => c.req.header(name))
    await next()
  })
  app.post('/execute', async (c) => {
    const body = parse(ExecuteRequest, await readJson(c.req.raw))
    if (body.context_id && body.language) {
      return c.text('Only one of context_id or language can be provided', 400)
    }
    const id = body.context_id ?? (await defaults.id(normalizeLanguage(body.language)))
    const { language } = requireContext(contexts, id)
    const signal = c.req.raw.signal
    return stream(c, async (out) => {
      const write = (line: E2bLine) => out.write(`${JSON.stringify(line)}\n`)
      await runAsLines(
        { contexts, id, language, code: body.code, env: body.env_vars, signal },
        write,
      )
      await write({ type: 'end_of_execution' })
    })
  })
  app.post('/contexts', async (c) => {
    const body = parse(CreateContextRequest, await readJson(c.req.raw))
    const language = normalizeLanguage(body.language)
    const cwd = body.cwd && body.cwd !== E2B_HOME ? body.cwd : undefined
    const context = await contexts.create({ type: 'jupyter', language, working_dir: cwd })
    return c.json(toE2bContext(context))
  })
  app.get('/contexts', (c) => c.json(contexts.list().map(toE2bContext)))
  app.post('/contexts/:id/restart', async (c) => {
    await contexts.restart(requireContext(contexts, c.req.param('id')).context_id)
    return c.json(null)
  })
  app.delete('/contexts/:id', async (c) => {
    await contexts.remove(requireContext(contexts, c.req.param('id')).context_id)
    return c.json(null)
  })
  app.notFound((c) => c.json({ detail: 'Not Found' }, 404))
  app.onError((error, c) => {
    if (error instanceof UnprocessableError) return c.json({ detail: error.detail }, 422)
    const { status, body, unexpected } = describeError(error)
    if (unexpected) log.error({ err: error }, 'e2b interpreter: unhandled error')
    return c.text(body.error.message, status)
  })
  return app
}

/** E2B's Context: `{id, language, cwd}`. */
function toE2bContext(context: Context) {
  return { id: context.context_id, language: context.language, cwd: context.working_dir }
}

type Run = {
  contexts: ContextService
  id: string
  language: Language
  code: string
  env: Record<string, string> | null | undefined
  signal: AbortSignal
}

/**
 * Runs the cell and writes its events as E2B lines, with a keepalive after each 5 s of silence.
 * A request that fails once the stream has started ends with an `error` line.
 */
async function runAsLines(run: Run, write: (line: E2bLine) => Promise<unknown>): Promise<void> {
  const now = () => new Date().toISOString()
  let pending: Promise<unknown> = Promise.resolve()
  const send = (line: E2bLine) => {
    pending = pending.then(() => write(line))
    keepalive.refresh()
  }
  const keepalive = setInterval(() => send({ type: 'keepalive' }), KEEPALIVE_MS)
  const onEvent = (event: ExecutionEvent) => {
    for (const line of eventLines(event, now)) send(line)
  }
  try {
    await withEnvVars(run, (options) =>
      run.contexts.execute(run.id, { code: run.code }, { signal: run.signal, ...options, onEvent }),
    )
  } catch (error) {
    const { code, message } = describeError(error).body.error
    send({ type: 'error', name: code, value: message, traceback: '' })
  } finally {
    clearInterval(keepalive)
  }
  await pending
}

/** A body that is not what E2B's server accepts: FastAPI answers 422 `{detail: [...]}`. */
class UnprocessableError extends Error {
  constructor(readonly detail: { loc: (string | number)[]; msg: string; type: string }[]) {
    super('Unprocessable Entity')
  }
}

async function readJson(request: Request): Promise<unknown> {
  try {
    return await request.json()
  } catch {
    throw new UnprocessableError([
      { loc: ['body'], msg: 'JSON decode error', type: 'json_invalid' },
    ])
  }
}

function parse<T extends z.ZodType>(schema: T, value: unknown): z.infer<T> {
  const result = schema.safeParse(value)
  if (result.success) return result.data
  throw new UnprocessableError(
    result.error.issues.map((issue) => ({
      loc: ['body', ...issue.path.map((part) => (typeof part === 'symbol' ? '' : part))],
      msg: issue.message,
      type: issue.code,
    })),
  )
}

/**
 * The context, or E2B's 404 for an unknown one (plain text `Context <id> not found`), which the SDK
 * raises as its NotFoundError.
 */
function requireContext(contexts: ContextService, id: string): Context {
  try {
    return contexts.get(id)
  } catch (error) {
    if (!(error instanceof SandboxError) || error.code !== 'CONTEXT_NOT_FOUND') throw error
    throw new SandboxError('CONTEXT_NOT_FOUND', `Context ${id.slice(0, 100)} not found`)
  }
}
