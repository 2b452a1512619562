import { setTimeout as sleep } from 'node:timers/promises'
import type { z } from 'zod'
import {
  Context,
  ErrorBody,
  type ErrorCode,
  ExecutionResult,
  type Language,
  StoppedContext,
} from '../sandbox/api.js'

/** The part of `fetch` the client uses: global fetch remotely, the app's own fetch when embedded. */
export type FetchLike = (input: string, init: RequestInit) => Promise<Response>

/** A sandbox call that failed: the code of the sandbox's error envelope, or UNAVAILABLE. */
export class SandboxCallError extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
    options: { cause?: unknown } = {},
  ) {
    super(message, options)
    this.name = 'SandboxCallError'
  }
}

/** Code to run and its timeout in seconds (the sandbox's default when absent). */
export type RunBody = { code: string; timeout?: number }

/** The calls a case needs. Every failure is a SandboxCallError or the caller's abort. */
export type EvalClient = {
  /** POST /api/v1/execute: a fresh context that the sandbox throws away after. */
  runOnce(body: RunBody & { language: Language }, signal: AbortSignal): Promise<ExecutionResult>
  createContext(language: Language, signal: AbortSignal): Promise<Context>
  execute(contextId: string, body: RunBody, signal: AbortSignal): Promise<ExecutionResult>
  /** Deletes a context; one that is already gone counts as deleted. Not abortable: it is cleanup. */
  deleteContext(contextId: string): Promise<void>
  /** Resolves when GET /health answers OK, so a run against a sandbox that is down fails at once. */
  checkHealth(): Promise<void>
}

export type EvalClientOptions = {
  fetch: FetchLike
  /** Origin (and optional path prefix) of the sandbox, without a trailing slash. */
  baseUrl: string
  /** Sent as `Authorization: Bearer` when set. */
  apiKey?: string
  /**
   * Longest total wait for 429 LIMIT_EXCEEDED answers of one call before it fails.
   * @default 300_000 // 5 min: a shared sandbox at SANDBOX_MAX_CONTEXTS frees contexts in seconds
   */
  retryLimitMs?: number
}

/** Deadline of a call beyond the execution timeout it carries: a cold kernel start fits in it. */
const REQUEST_MARGIN_MS = 120_000 // 120 s
const HEALTH_TIMEOUT_MS = 10_000 // 10 s
/** Used when a call gives no timeout: the sandbox's own maximum (SANDBOX_MAX_TIMEOUT) by default. */
const MAX_EXECUTION_MS = 600_000 // 600 s

type Spec = {
  method: 'POST' | 'DELETE'
  path: string
  expect: number
  body?: unknown
  signal?: AbortSignal
  timeoutMs: number
}

/**
 * Builds the evaluation client on a fetch function, so remote and embedded runs share one path.
 * A 429 LIMIT_EXCEEDED is retried after the Retry-After the sandbox sends: the loop is a few
 * lines, and retry libraries back off on their own schedule rather than the server's.
 * @example
 * const client = createEvalClient({ fetch, baseUrl: 'http://127.0.0.1:8080' })
 * const result = await client.runOnce({ language: 'python', code: 'print(1)' }, signal)
 */
export function createEvalClient({
  fetch,
  baseUrl,
  apiKey,
  retryLimitMs = 300_000,
}: EvalClientOptions): EvalClient {
  const headers: Record<string, string> = { 'content-type': 'application/json' }
  if (apiKey) headers.authorization = `Bearer ${apiKey}`

  async function send(spec: Spec): Promise<Response> {
    const deadline = AbortSignal.timeout(spec.timeoutMs)
    try {
      return await fetch(`${baseUrl}/api/v1${spec.path}`, {
        method: spec.method,
        headers,
        body: spec.body === undefined ? undefined : JSON.stringify(spec.body),
        signal: spec.signal ? AbortSignal.any([spec.signal, deadline]) : deadline,
      })
    } catch (error) {
      if (spec.signal?.aborted) throw error
      const why = deadline.aborted ? `no answer within ${spec.timeoutMs / 1000} s` : causeOf(error)
      throw new SandboxCallError('UNAVAILABLE', `Cannot reach the sandbox at ${baseUrl}: ${why}`, {
        cause: error,
      })
    }
  }

  async function request<T>(schema: z.ZodType<T>, spec: Spec): Promise<T> {
    for (let waitedMs = 0; ; ) {
      const response = await send(spec)
      if (response.status === spec.expect) {
        return parse(schema, await response.json().catch(() => undefined))
      }
      const error = await errorFrom(response, baseUrl)
      const waitMs = retryAfterMs(response.headers.get('retry-after'))
      if (error.code !== 'LIMIT_EXCEEDED' || response.status !== 429) throw error
      if (waitedMs + waitMs > retryLimitMs) throw error
      await sleep(waitMs, undefined, { signal: spec.signal })
      waitedMs += waitMs
    }
  }

  async function checkHealth(): Promise<void> {
    const deadline = AbortSignal.timeout(HEALTH_TIMEOUT_MS)
    const response = await fetch(`${baseUrl}/health`, { method: 'GET', signal: deadline }).catch(
      (error: unknown) => {
        const why = deadline.aborted ? 'no answer' : causeOf(error)
        throw new SandboxCallError('UNAVAILABLE', `Cannot reach the sandbox at ${baseUrl}: ${why}`)
      },
    )
    if (response.status !== 200) {
      throw new SandboxCallError(
        'UNAVAILABLE',
        `The sandbox at ${baseUrl} is not healthy: GET /health answered HTTP ${response.status}`,
      )
    }
  }

  const executionDeadline = (timeoutS: number | undefined) =>
    Math.ceil(timeoutS === undefined ? MAX_EXECUTION_MS : timeoutS * 1000) + REQUEST_MARGIN_MS
  const contextPath = (id: string) => `/contexts/${encodeURIComponent(id)}`

  return {
    runOnce: (body, signal) =>
      request(ExecutionResult, {
        method: 'POST',
        path: '/execute',
        expect: 200,
        body,
        signal,
        timeoutMs: executionDeadline(body.timeout),
      }),
    createContext: (language, signal) =>
      request(Context, {
        method: 'POST',
        path: '/contexts',
        expect: 201,
        body: { language, name: 'sandbox-eval' },
        signal,
        timeoutMs: REQUEST_MARGIN_MS,
      }),
    execute: (contextId, body, signal) =>
      request(ExecutionResult, {
        method: 'POST',
        path: `${contextPath(contextId)}/execute`,
        expect: 200,
        body,
        signal,
        timeoutMs: executionDeadline(body.timeout),
      }),
    checkHealth,
    deleteContext: async (contextId) => {
      const spec = { method: 'DELETE', path: contextPath(contextId), expect: 200 } as const
      await request(StoppedContext, { ...spec, timeoutMs: REQUEST_MARGIN_MS }).catch((error) => {
        if (!(error instanceof SandboxCallError && error.code === 'CONTEXT_NOT_FOUND')) throw error
      })
    },
  }
}

/** Retry-After as delay-seconds or an HTTP date; 1 s when absent or unreadable. */
function retryAfterMs(header: string | null): number {
  if (header === null) return 1000
  if (/^\d+$/.test(header.trim())) return Number(header) * 1000
  const at = Date.parse(header)
  return Number.isNaN(at) ? 1000 : Math.max(0, at - Date.now())
}

function parse<T>(schema: z.ZodType<T>, body: unknown): T {
  const result = schema.safeParse(body)
  if (result.success) return result.data
  throw new SandboxCallError(
    'INTERNAL',
    `The sandbox answered with an unexpected body (${result.error.issues[0]?.message}); are sandbox-eval and the sandbox the same version?`,
  )
}

async function errorFrom(response: Response, baseUrl: string): Promise<SandboxCallError> {
  const text = await response.text()
  let body: unknown
  try {
    body = JSON.parse(text)
  } catch {}
  const envelope = ErrorBody.safeParse(body)
  if (envelope.success)
    return new SandboxCallError(envelope.data.error.code, envelope.data.error.message)
  return new SandboxCallError(
    'UNAVAILABLE',
    `The sandbox answered HTTP ${response.status} without an error body: is ${baseUrl} the sandbox service?`,
  )
}

/** Node's fetch says "fetch failed" and keeps the reason (ECONNREFUSED, …) as its cause. */
function causeOf(error: unknown): string {
  const cause = error instanceof Error && error.cause instanceof Error ? error.cause : error
  return (
    (cause as { code?: string } | undefined)?.code ??
    (cause instanceof Error ? cause.message : String(cause))
  )
}
