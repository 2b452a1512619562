/** The client's one error class, and how answers and failures of the sandbox become it. */
import type { z } from 'zod'
import { ErrorBody, type ErrorCode } from '../sandbox/api.js'

/** A failed sandbox call: the code of the sandbox's error envelope, or UNAVAILABLE when unreachable. */
export class SandboxApiError extends Error {
  /** HTTP status of the answer; absent when the sandbox did not answer or the error is local. */
  readonly status?: number
  /** Narrows the code, e.g. `contexts` or `file_size` for LIMIT_EXCEEDED. */
  readonly reason?: string
  /** Seconds the sandbox asked to wait before trying again (its Retry-After header). */
  readonly retryAfterS?: number

  /**
   * @param code - the sandbox's code (CONTEXT_NOT_FOUND, …), or UNAVAILABLE when it cannot be reached
   * @param message - what went wrong and what to change
   */
  constructor(
    readonly code: ErrorCode,
    message: string,
    details: { status?: number; reason?: string; retryAfterS?: number; cause?: unknown } = {},
  ) {
    super(message, { cause: details.cause })
    this.name = 'SandboxApiError'
    if (details.status !== undefined) this.status = details.status
    if (details.reason !== undefined) this.reason = details.reason
    if (details.retryAfterS !== undefined) this.retryAfterS = details.retryAfterS
  }
}

/** Parses and validates a JSON body; anything else is the sandbox speaking another contract. */
export function parse<T>(schema: z.ZodType<T>, text: string): T {
  let body: unknown
  try {
    body = JSON.parse(text)
  } catch {}
  const result = schema.safeParse(body)
  if (result.success) return result.data
  throw new SandboxApiError(
    'INTERNAL',
    `The sandbox answered with an unexpected body (${result.error.issues[0]?.message}); are this client and the sandbox the same version?`,
  )
}

/** The error of an answer with an unexpected status, from the sandbox's envelope when it sent one. */
export async function errorFrom(response: Response, baseUrl: string): Promise<SandboxApiError> {
  const text = await response.text()
  const status = response.status
  const retryAfterS = retryAfterSeconds(response.headers.get('retry-after'))
  let body: unknown
  try {
    body = JSON.parse(text)
  } catch {}
  const envelope = ErrorBody.safeParse(body)
  if (envelope.success) {
    const { code, message, reason } = envelope.data.error
    return new SandboxApiError(code, message, { status, reason, retryAfterS })
  }
  if (status === 401) {
    return new SandboxApiError(
      'UNAUTHORIZED',
      'The sandbox refused the API key (SANDBOX_API_KEY)',
      {
        status,
      },
    )
  }
  const said = text.trim().slice(0, 200)
  return new SandboxApiError(
    'UNAVAILABLE',
    said && status === 503
      ? `The sandbox at ${baseUrl} is not available: ${said}`
      : `The sandbox answered HTTP ${status} without an error body: is ${baseUrl} the sandbox service (SANDBOX_BASE_URL)?`,
    { status, ...(said && status === 503 ? { reason: said } : {}) },
  )
}

/** Retry-After as delay-seconds or an HTTP date; undefined when absent or unreadable. */
function retryAfterSeconds(header: string | null): number | undefined {
  if (header === null) return undefined
  if (/^\d+$/.test(header.trim())) return Number(header)
  const at = Date.parse(header)
  return Number.isNaN(at) ? undefined : Math.max(0, (at - Date.now()) / 1000)
}

export function unreachable(
  baseUrl: string,
  error: unknown,
  timedOutAfterMs?: number,
): SandboxApiError {
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
