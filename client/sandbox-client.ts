/**
 * The one typed client of the sandbox REST API (/health and /api/v1), used by the MCP server, the
 * eval CLI, the benches and the tests. It imports only the API contract, so it runs against a
 * remote service (global fetch) and an embedded one (the app's own fetch) alike. Its parts:
 * errors.ts (the one error class), bodies.ts (event streams and downloads).
 */
import { setTimeout as sleep } from 'node:timers/promises'
import type { z } from 'zod'
import {
  Context,
  ContextList,
  type CreateContextBody,
  type ExecuteBody,
  type ExecutionEvent,
  ExecutionResult,
  FileList,
  FilesWritten,
  type OneShotExecuteBody,
  StoppedContext,
} from '../sandbox/api.js'
import { readEvents, readRange } from './bodies.js'
import { errorFrom, parse, SandboxApiError, unreachable } from './errors.js'

/** The part of `fetch` the client uses: global fetch remotely, the app's own fetch when embedded. */
export type FetchLike = (input: string, init: RequestInit) => Promise<Response>

export type SandboxClientOptions = {
  /** Origin (and optional path prefix) of the sandbox service, without a trailing slash. */
  baseUrl: string
  /** @default globalThis.fetch */
  fetch?: FetchLike
  /** Sent as `Authorization: Bearer` when set. */
  apiKey?: string
  /**
   * Deadline of every call but the executes, whose deadline is their own `timeout` (or the
   * sandbox's maximum) plus this much.
   * @default 120_000 // 120 s: a cold kernel start stays well within it
   */
  requestTimeoutMs?: number
  /**
   * Longest total wait for 429 LIMIT_EXCEEDED answers of one call, each retried after the
   * Retry-After the sandbox sent. 0 turns retries off: the 429 is thrown at once.
   * @default 0
   */
  retryLimitMs?: number
}

export type CallOptions = { signal?: AbortSignal }
export type ExecuteOptions = CallOptions & {
  /** Receives output as it arrives (the SSE execute); without it the call is one JSON round trip. */
  onEvent?: (event: ExecutionEvent) => void | Promise<void>
}
export type ReadFileOptions = CallOptions & {
  /** First byte to return. @default 0 */
  offset?: number
  /** Bytes to return from `offset`, at most. @default the rest of the file */
  length?: number
  /** A larger read is refused with LIMIT_EXCEEDED (reason file_size) before it is buffered. */
  maxBytes?: number
}

/** A downloaded file, or a range of it. */
export type FileContent = {
  bytes: Uint8Array
  /** Size of the whole file, in bytes. */
  size: number
  /** As the sandbox sent it, from the file's extension; application/octet-stream when unknown. */
  contentType: string
}

/** Typed calls to the sandbox. Every failure is a SandboxApiError, or the caller's abort as is. */
export type SandboxClient = {
  /** Resolves when GET /health answers 200; else UNAVAILABLE with the sandbox's reason. */
  health(options?: CallOptions): Promise<void>
  createContext(body: z.input<typeof CreateContextBody>, options?: CallOptions): Promise<Context>
  listContexts(options?: CallOptions): Promise<ContextList>
  getContext(id: string, options?: CallOptions): Promise<Context>
  stopContext(id: string, options?: CallOptions): Promise<StoppedContext>
  execute(id: string, body: ExecuteBody, options?: ExecuteOptions): Promise<ExecutionResult>
  /** POST /api/v1/execute: a fresh context that the sandbox throws away after. */
  runOnce(
    body: z.input<typeof OneShotExecuteBody>,
    options?: ExecuteOptions,
  ): Promise<ExecutionResult>
  interrupt(id: string, options?: CallOptions): Promise<Context>
  /** Restarts the kernel: its state is cleared, the context is kept. */
  restart(id: string, options?: CallOptions): Promise<Context>
  /** Lists a directory of the context's working directory, or the working directory itself. */
  listFiles(id: string, path?: string, options?: CallOptions): Promise<FileList>
  /** Downloads a file of the context's working directory, or a range of it, into memory. */
  readFile(id: string, path: string, options?: ReadFileOptions): Promise<FileContent>
  /** Creates or overwrites a file of the context's working directory, with its parents. */
  writeFile(
    id: string,
    path: string,
    bytes: Uint8Array,
    options?: CallOptions,
  ): Promise<FilesWritten>
}

const API = '/api/v1'
/** Deadline of GET /health: a sandbox that takes longer is as good as down. */
const HEALTH_TIMEOUT_MS = 10_000 // 10 s
/** Execution deadline assumed when a call gives none: the sandbox's default SANDBOX_MAX_TIMEOUT. */
const MAX_EXECUTION_MS = 600_000 // 600 s
/** Longest timer Node keeps (2^31 - 1 ms, 24.8 days): a longer deadline would throw a RangeError. */
const MAX_TIMER_MS = 2 ** 31 - 1

type RequestSpec = {
  method: 'GET' | 'POST' | 'PUT' | 'DELETE'
  /** From the base URL: /health, /api/v1/… */
  path: string
  expect: number
  /** Sent as JSON. */
  body?: unknown
  /** Sent as is, for file uploads. */
  bytes?: Uint8Array
  signal?: AbortSignal
  timeoutMs: number
  accept?: string
}

/**
 * Builds the sandbox client on a fetch function, so remote and embedded mode share one code path.
 * @example
 * const client = createSandboxClient({ baseUrl: 'http://127.0.0.1:8080', apiKey })
 * const { context_id } = await client.createContext({ language: 'python' })
 * const result = await client.execute(context_id, { code: 'print(1)' }, { onEvent: console.log })
 */
export function createSandboxClient({
  baseUrl,
  fetch = globalThis.fetch,
  apiKey,
  requestTimeoutMs = 120_000,
  retryLimitMs = 0,
}: SandboxClientOptions): SandboxClient {
  const auth: Record<string, string> = apiKey ? { authorization: `Bearer ${apiKey}` } : {}

  /** One round trip: the exact expected status, or the sandbox's error as a SandboxApiError. */
  async function send(spec: RequestSpec, deadline: AbortSignal): Promise<Response> {
    const response = await fetch(baseUrl + spec.path, {
      method: spec.method,
      headers: {
        ...auth,
        'content-type': spec.bytes ? 'application/octet-stream' : 'application/json',
        ...(spec.accept ? { accept: spec.accept } : {}),
      },
      body: spec.bytes ?? (spec.body === undefined ? undefined : JSON.stringify(spec.body)),
      signal: spec.signal ? AbortSignal.any([spec.signal, deadline]) : deadline,
    })
    if (response.status !== spec.expect) throw await errorFrom(response, baseUrl)
    return response
  }

  /**
   * One call: `send`, retried on 429 within retryLimitMs, then `read` the body. Failures of the
   * connection, at any point, become UNAVAILABLE; the caller's own abort propagates as is.
   */
  async function call<T>(spec: RequestSpec, read: (response: Response) => Promise<T>): Promise<T> {
    let deadline = AbortSignal.timeout(spec.timeoutMs)
    try {
      for (let waitedMs = 0; ; deadline = AbortSignal.timeout(spec.timeoutMs)) {
        try {
          return await read(await send(spec, deadline))
        } catch (error) {
          if (!retryable(error) || retryLimitMs <= 0) throw error
          // At least 0.1 s: a sandbox that keeps answering "Retry-After: 0" still uses the budget up.
          const waitMs = Math.ceil(Math.max((error.retryAfterS ?? 1) * 1000, 100))
          if (waitedMs + waitMs > retryLimitMs) throw error
          await sleep(waitMs, undefined, { signal: spec.signal })
          waitedMs += waitMs
        }
      }
    } catch (error) {
      // The caller's abort wins over whatever the cut-short request produced.
      if (spec.signal?.aborted) throw spec.signal.reason
      if (error instanceof SandboxApiError) throw error
      throw unreachable(baseUrl, error, deadline.aborted ? spec.timeoutMs : undefined)
    }
  }

  function json<T>(schema: z.ZodType<T>, spec: RequestSpec): Promise<T> {
    return call(spec, async (response) => parse(schema, await response.text()))
  }

  /** An execute, as JSON or, with `onEvent`, as the event stream. */
  function execution(
    spec: Omit<RequestSpec, 'timeoutMs'>,
    timeoutS: number | undefined,
    onEvent: ExecuteOptions['onEvent'],
  ) {
    // The sandbox enforces the execution timeout; this deadline only catches one that hangs.
    // An absurd timeout still reaches the sandbox, which answers it with INVALID_PARAMS.
    const timeoutMs = Math.min(
      Math.ceil(timeoutS === undefined ? MAX_EXECUTION_MS : timeoutS * 1000) + requestTimeoutMs,
      MAX_TIMER_MS,
    )
    if (!onEvent) return json(ExecutionResult, { ...spec, timeoutMs })
    return call({ ...spec, timeoutMs, accept: 'text/event-stream' }, (response) =>
      readEvents(response, onEvent),
    )
  }

  const timeoutMs = requestTimeoutMs
  const contextPath = (id: string) => `${API}/contexts/${encodeURIComponent(id)}`
  const kernelAction = (id: string, action: string, { signal }: CallOptions = {}) =>
    json(Context, {
      method: 'POST',
      path: `${contextPath(id)}/${action}`,
      expect: 200,
      signal,
      timeoutMs,
    })
  return {
    health: ({ signal } = {}) =>
      call(
        { method: 'GET', path: '/health', expect: 200, signal, timeoutMs: HEALTH_TIMEOUT_MS },
        async (response) => void (await response.body?.cancel()),
      ),
    createContext: (body, { signal } = {}) =>
      json(Context, {
        method: 'POST',
        path: `${API}/contexts`,
        expect: 201,
        body,
        signal,
        timeoutMs,
      }),
    listContexts: ({ signal } = {}) =>
      json(ContextList, { method: 'GET', path: `${API}/contexts`, expect: 200, signal, timeoutMs }),
    getContext: (id, { signal } = {}) =>
      json(Context, { method: 'GET', path: contextPath(id), expect: 200, signal, timeoutMs }),
    stopContext: (id, { signal } = {}) =>
      json(StoppedContext, {
        method: 'DELETE',
        path: contextPath(id),
        expect: 200,
        signal,
        timeoutMs,
      }),
    execute: (id, body, { signal, onEvent } = {}) =>
      execution(
        { method: 'POST', path: `${contextPath(id)}/execute`, expect: 200, body, signal },
        body.timeout,
        onEvent,
      ),
    runOnce: (body, { signal, onEvent } = {}) =>
      execution(
        { method: 'POST', path: `${API}/execute`, expect: 200, body, signal },
        body.timeout,
        onEvent,
      ),
    interrupt: (id, options) => kernelAction(id, 'interrupt', options),
    restart: (id, options) => kernelAction(id, 'restart', options),
    listFiles: (id, path, { signal } = {}) =>
      json(FileList, {
        method: 'GET',
        path: filesPath(contextPath(id), path === undefined ? {} : { path }),
        expect: 200,
        signal,
        timeoutMs,
      }),
    readFile: (id, path, { signal, ...range } = {}) =>
      call(
        {
          method: 'GET',
          path: filesPath(contextPath(id), { path }, '/content'),
          expect: 200,
          signal,
          timeoutMs,
        },
        (response) => readRange(response, path, range),
      ),
    writeFile: (id, path, bytes, { signal } = {}) =>
      json(FilesWritten, {
        method: 'PUT',
        path: filesPath(contextPath(id), { path }),
        expect: 201,
        bytes,
        signal,
        timeoutMs,
      }),
  }
}

function retryable(error: unknown): error is SandboxApiError {
  return error instanceof SandboxApiError && error.code === 'LIMIT_EXCEEDED' && error.status === 429
}

function filesPath(contextPath: string, query: Record<string, string>, suffix = ''): string {
  const search = new URLSearchParams(query).toString()
  return `${contextPath}/files${suffix}${search ? `?${search}` : ''}`
}
