import { HTTPException } from 'hono/http-exception'
import type { ContentfulStatusCode } from 'hono/utils/http-status'
import type { ErrorBody, ErrorCode } from './api.js'

/** HTTP status for every error code: the one place codes meet HTTP. */
export const STATUS_BY_CODE: Record<ErrorCode, ContentfulStatusCode> = {
  INVALID_PARAMS: 400,
  INVALID_LANGUAGE: 400,
  NOT_FOUND: 404,
  UNAUTHORIZED: 401,
  FORBIDDEN: 403,
  CONTEXT_NOT_FOUND: 404,
  FILE_NOT_FOUND: 404,
  LIMIT_EXCEEDED: 429,
  EXECUTION_TIMEOUT: 504,
  // Raised as an HTTP error only when the context cannot run code until it is restarted.
  EXECUTION_FAILED: 409,
  UNAVAILABLE: 503,
  INTERNAL: 500,
}

/** The one error class of the service: a stable `code` clients parse, and a message for people. */
export class SandboxError extends Error {
  /**
   * @param code - stable upper-case code from DESIGN.md
   * @param message - what went wrong and what to change
   * @param details - `reason` narrows a code (LIMIT_EXCEEDED → "contexts", "request_size", …)
   */
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly details: {
      reason?: string
      retryAfterS?: number
      issues?: { path: string; message: string }[]
      cause?: unknown
    } = {},
  ) {
    super(message, { cause: details.cause })
    this.name = 'SandboxError'
  }

  get status(): ContentfulStatusCode {
    // A body over the size limit is 413 by HTTP's own rules; other limits are 429 with Retry-After.
    const { reason } = this.details
    if (this.code === 'LIMIT_EXCEEDED' && (reason === 'request_size' || reason === 'file_size'))
      return 413
    return STATUS_BY_CODE[this.code]
  }

  toBody(): ErrorBody {
    const { reason, issues } = this.details
    return {
      error: {
        code: this.code,
        message: this.message,
        ...(reason ? { reason } : {}),
        ...(issues ? { issues } : {}),
      },
    }
  }
}

/**
 * Turns anything thrown while handling a request into the error envelope and its status.
 * Unknown errors become an opaque INTERNAL: no stack, path or message of ours leaks to clients.
 */
export function describeError(error: unknown): {
  status: ContentfulStatusCode
  body: ErrorBody
  retryAfterS?: number
  unexpected: boolean
} {
  if (error instanceof SandboxError) {
    return {
      status: error.status,
      body: error.toBody(),
      retryAfterS: error.details.retryAfterS,
      unexpected: false,
    }
  }
  if (error instanceof HTTPException) {
    // Hono raises these for malformed JSON (400), a wrong Content-Type (415) and oversized bodies.
    const known =
      error.status === 413
        ? new SandboxError('LIMIT_EXCEEDED', 'Request body is larger than SANDBOX_MAX_BODY_BYTES', {
            reason: 'request_size',
          })
        : error.status === 400 || error.status === 415
          ? new SandboxError(
              'INVALID_PARAMS',
              `${error.message}: send a JSON body with Content-Type: application/json`,
            )
          : undefined
    if (known) return describeError(known)
  }
  return {
    status: 500,
    body: { error: { code: 'INTERNAL', message: 'Internal error; the service log has details' } },
    unexpected: true,
  }
}
