import type { z } from 'zod'
import {
  Context,
  ContextList,
  type CreateContextBody,
  ErrorBody,
  type ErrorCode,
  type ExecuteBody,
  type ExecutionError,
  ExecutionEvent,
  ExecutionResult,
  FileList,
  FilesWritten,
  StoppedContext,
} from '../sandbox/api.js'
import { readServerSentEvents } from './sse.js'

/** The part of `fetch` the client uses: global fetch remotely, the app's own fetch when embedded. */
export type FetchLike = (input: string, init: RequestInit) => Promise<Response>

/** A failed sandbox call, with the stable code of the sandbox's error envelope. */
export class SandboxApiError extends Error {
  /**
   * @param code - the sandbox's code (CONTEXT_NOT_FOUND, …), or UNAVAILABLE when it cannot be reached
   * @param message - what went wrong and what to change
   */
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly details: { status?: number; reason?: string; cause?: unknown } = {},
  ) {
    super(message, { cause: details.cause })
    this.name = 'SandboxApiError'
  }

  /** The error envelope, as the sandbox itself would render it. */
  toBody(): ErrorBody {
    const { reason } = this.details
    return { error: { code: this.code, message: this.message, ...(reason ? { reason } : {}) } }
  }
}

export type SandboxClientOptions = {
  fetch: FetchLike
  /** Origin (and optional path prefix) of the sandbox service, without a trailing slash. */
  baseUrl: string
  /** Sent as `Authorization: Bearer` when set. */
  apiKey?: string
  /**
   * Deadline of every call but execute, whose deadline is its own `timeout` plus this much.
   * @default 120_000 // 120 s: a cold kernel start stays well within it
   */
  requestTimeoutMs?: number
}

export type CallOptions = { signal?: AbortSignal }
export type ExecuteOptions = CallOptions & {
  /** Receives output as it arrives (the SSE execute); without it the call is one JSON round trip. */
  onEvent?: (event: ExecutionEvent) => void | Promise<void>
}

export type ReadFileOptions = CallOptions & {
  /** A larger file is refused with LIMIT_EXCEEDED (reason file_size) before it is buffered. */
  maxBytes?: number
}

/** A downloaded file. */
export type FileContent = {
  bytes: Uint8Array
  /** As the sandbox sent it, from the file's extension; application/octet-stream when unknown. */
  contentType: string
}

/** Typed calls to the sandbox's /api/v1. Every failure is a SandboxApiError or an abort. */
export type SandboxClient = {
  createContext(body: z.input<typeof CreateContextBody>, options?: CallOptions): Promise<Context>
  listContexts(options?: CallOptions): Promise<ContextList>
  stopContext(id: string, options?: CallOptions): Promise<StoppedContext>
  execute(id: string, body: ExecuteBody, options?: ExecuteOptions): Promise<ExecutionResult>
  /** Lists a directory of the context's working directory, or the working directory itself. */
  listFiles(id: string, path: string | undefined, options?: CallOptions): Promise<FileList>
  /** Downloads a file of the context's working directory into memory. */
  readFile(id: string, path: string, options?: ReadFileOptions): Promise<FileContent>
  /** Creates or overwrites a file of the context's working directory, with its parents. */
  writeFile(
    id: string,
    path: string,
    bytes: Uint8Array,
    options?: CallOptions,
  ): Promise<FilesWritten>
}

type RequestSpec = {
  method: 'GET' | 'POST' | 'PUT' | 'DELETE'
  path: string
  expect: number
  /** Sent as JSON. */
  body?: unknown
  /** Sent as is, for file uploads. */
  bytes?: Uint8Array
  signal?: AbortSignal
  timeoutMs?: number
  accept?: string
}

/**
 * Builds the sandbox client on a fetch function, so remote and embedded mode share one code path.
 * @example
 * const client = createSandboxClient({ fetch, baseUrl: 'http://127.0.0.1:8080', apiKey })
 * const { context_id } = await client.createContext({ language: 'python' })
 */
export function createSandboxClient({
  fetch,
  baseUrl,
  apiKey,
  requestTimeoutMs = 120_000,
}: SandboxClientOptions): SandboxClient {
  const auth: Record<string, string> = apiKey ? { authorization: `Bearer ${apiKey}` } : {}

  /**
   * One call: fetch, exact status check, then `read` the body. Failures of the connection, at any
   * point, become UNAVAILABLE; the caller's own abort (a cancelled tool call) propagates as is.
   */
  async function call<T>(spec: RequestSpec, read: (response: Response) => Promise<T>): Promise<T> {
    const deadline = spec.timeoutMs === undefined ? undefined : AbortSignal.timeout(spec.timeoutMs)
    const signals = [spec.signal, deadline].filter((s): s is AbortSignal => s !== undefined)
    try {
      const response = await fetch(`${baseUrl}/api/v1${spec.path}`, {
        method: spec.method,
        headers: {
          ...auth,
          'content-type': spec.bytes ? 'application/octet-stream' : 'application/json',
          ...(spec.accept ? { accept: spec.accept } : {}),
        },
        body: spec.bytes ?? (spec.body === undefined ? undefined : JSON.stringify(spec.body)),
        signal: signals.length ? AbortSignal.any(signals) : undefined,
      })
      if (response.status !== spec.expect) throw await errorFrom(response, baseUrl)
      return await read(response)
    } catch (error) {
      if (error instanceof SandboxApiError || spec.signal?.aborted) throw error
      throw unreachable(baseUrl, error, deadline?.aborted ? spec.timeoutMs : undefined)
    }
  }

  function json<T>(schema: z.ZodType<T>, spec: RequestSpec): Promise<T> {
    return call(spec, async (response) => parse(schema, await response.text()))
  }

  function stream(spec: RequestSpec, onEvent: NonNullable<ExecuteOptions['onEvent']>) {
    return call({ ...spec, accept: 'text/event-stream' }, async (response) => {
      if (!response.body) throw new SandboxApiError('INTERNAL', 'The sandbox sent no event stream')
      let result: ExecutionResult | undefined
      let failure: ExecutionError | undefined
      for await (const { data } of readServerSentEvents(response.body)) {
        const event = parse(ExecutionEvent, data)
        if (event.type === 'end') result = event.result
        else {
          if (event.type === 'error') failure = event.error
          await onEvent(event)
        }
      }
      if (result) return result
      // Without an end event, the last error event is the sandbox's verdict on the request.
      if (failure?.code) {
        throw new SandboxApiError(failure.code, failure.value, { reason: failure.reason })
      }
      throw new SandboxApiError('UNAVAILABLE', 'The sandbox ended the output stream early')
    })
  }

  const timeoutMs = requestTimeoutMs
  return {
    createContext: (body, { signal } = {}) =>
      json(Context, { method: 'POST', path: '/contexts', expect: 201, body, signal, timeoutMs }),
    listContexts: ({ signal } = {}) =>
      json(ContextList, { method: 'GET', path: '/contexts', expect: 200, signal, timeoutMs }),
    stopContext: (id, { signal } = {}) =>
      json(StoppedContext, {
        method: 'DELETE',
        path: contextPath(id),
        expect: 200,
        signal,
        timeoutMs,
      }),
    execute: (id, body, { signal, onEvent } = {}) => {
      const spec: RequestSpec = {
        method: 'POST',
        path: `${contextPath(id)}/execute`,
        expect: 200,
        body,
        signal,
        // The sandbox enforces the execution timeout; this only catches a sandbox that hangs.
        timeoutMs: body.timeout === undefined ? undefined : body.timeout * 1000 + requestTimeoutMs,
      }
      return onEvent ? stream(spec, onEvent) : json(ExecutionResult, spec)
    },
    listFiles: (id, path, { signal } = {}) =>
      json(FileList, {
        method: 'GET',
        path: filesPath(id, path === undefined ? {} : { path }),
        expect: 200,
        signal,
        timeoutMs,
      }),
    readFile: (id, path, { signal, maxBytes = Number.POSITIVE_INFINITY } = {}) =>
      call(
        {
          method: 'GET',
          path: filesPath(id, { path }, '/content'),
          expect: 200,
          signal,
          timeoutMs,
        },
        async (response) => ({
          bytes: await readAtMost(response, maxBytes, path),
          contentType: response.headers.get('content-type') ?? 'application/octet-stream',
        }),
      ),
    writeFile: (id, path, bytes, { signal } = {}) =>
      json(FilesWritten, {
        method: 'PUT',
        path: filesPath(id, { path }),
        expect: 201,
        bytes,
        signal,
        timeoutMs,
      }),
  }
}

function contextPath(id: string): string {
  return `/contexts/${encodeURIComponent(id)}`
}

function filesPath(id: string, query: Record<string, string>, suffix = ''): string {
  const search = new URLSearchParams(query).toString()
  return `${contextPath(id)}/files${suffix}${search ? `?${search}` : ''}`
}

/**
 * Buffers a download, refusing it as soon as it is known to exceed `maxBytes`: from its
 * content-length when sent, else while reading, so a huge file is never held in memory.
 * @throws SandboxApiError LIMIT_EXCEEDED (reason file_size)
 */
async function readAtMost(response: Response, maxBytes: number, path: string): Promise<Uint8Array> {
  const tooLarge = (size: string) =>
    new SandboxApiError(
      'LIMIT_EXCEEDED',
      `${path} is ${size} bytes, over the limit of ${maxBytes} bytes for one read`,
      { reason: 'file_size' },
    )
  const body = response.body
  if (!body) return new Uint8Array()
  const length = Number(response.headers.get('content-length') ?? Number.NaN)
  if (length > maxBytes) {
    // Cancelling closes the file on the sandbox's side and frees the connection.
    await body.cancel()
    throw tooLarge(String(length))
  }
  const reader = body.getReader()
  const chunks: Uint8Array[] = []
  let size = 0
  let finished = false
  try {
    for (;;) {
      const { value, done } = await reader.read()
      if (done) break
      size += value.byteLength
      if (size > maxBytes) throw tooLarge(`more than ${maxBytes}`)
      chunks.push(value)
    }
    finished = true
  } finally {
    if (!finished) await reader.cancel().catch(() => undefined)
    reader.releaseLock()
  }
  return Buffer.concat(chunks)
}

/** Parses and validates a JSON body; anything else is the sandbox speaking another contract. */
function parse<T>(schema: z.ZodType<T>, text: string): T {
  let body: unknown
  try {
    body = JSON.parse(text)
  } catch {}
  const result = schema.safeParse(body)
  if (result.success) return result.data
  throw new SandboxApiError(
    'INTERNAL',
    `The sandbox answered with an unexpected body (${result.error.issues[0]?.message}); are the MCP server and the sandbox the same version?`,
  )
}

async function errorFrom(response: Response, baseUrl: string): Promise<SandboxApiError> {
  const text = await response.text()
  let body: unknown
  try {
    body = JSON.parse(text)
  } catch {}
  const envelope = ErrorBody.safeParse(body)
  if (envelope.success) {
    const { code, message, reason } = envelope.data.error
    return new SandboxApiError(code, message, { status: response.status, reason })
  }
  if (response.status === 401) {
    return new SandboxApiError('UNAUTHORIZED', 'The sandbox refused the API key (SANDBOX_API_KEY)')
  }
  return new SandboxApiError(
    'UNAVAILABLE',
    `The sandbox answered HTTP ${response.status} without an error body: is SANDBOX_BASE_URL (${baseUrl}) the sandbox service?`,
    { status: response.status },
  )
}

function unreachable(baseUrl: string, error: unknown, timedOutAfterMs?: number): SandboxApiError {
  if (timedOutAfterMs !== undefined) {
    return new SandboxApiError(
      'UNAVAILABLE',
      `The sandbox at ${baseUrl} did not answer within ${timedOutAfterMs / 1000} s (SANDBOX_REQUEST_TIMEOUT)`,
      { cause: error },
    )
  }
  // Node's fetch reports "fetch failed" and keeps the reason (ECONNREFUSED, ENOTFOUND, …) as its cause.
  const cause = error instanceof Error && error.cause instanceof Error ? error.cause : error
  const why =
    (cause as { code?: string } | undefined)?.code ?? (cause instanceof Error ? cause.message : '')
  return new SandboxApiError(
    'UNAVAILABLE',
    `The sandbox at ${baseUrl} did not answer (${why}): is it running, and is SANDBOX_BASE_URL right?`,
    { cause: error },
  )
}
