import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js'
import type { Logger } from 'pino'
import { SandboxApiError } from '../../client/index.js'
import type { ErrorCode } from '../../sandbox/api.js'
import { InvalidArgumentsError } from './arguments.js'

type Content = CallToolResult['content'][number]

/**
 * A tool result carrying `value` twice: as JSON text, which clients of earlier versions parse,
 * and as structuredContent, which matches the tool's declared output schema.
 * @param extra - blocks after the text, such as images
 */
export function jsonResult(
  value: Record<string, unknown>,
  { extra = [], isError = false }: { extra?: Content[]; isError?: boolean } = {},
): CallToolResult {
  return {
    content: [{ type: 'text', text: JSON.stringify(value) }, ...extra],
    structuredContent: value,
    ...(isError ? { isError: true } : {}),
  }
}

/** The error of a tool result, flat as the earlier MCP server sent it: `result["code"]` reads it. */
export type ToolError = { error: string; code: ErrorCode; reason?: string; field?: string }

/**
 * An `isError` result whose text is `{"error": "<message>", "code": "CONTEXT_NOT_FOUND", …}`, with
 * fields such as `reason` at the same level. It has no structuredContent: it does not match the
 * tool's output schema, and clients validate it. Unknown errors are logged and reported as an
 * opaque INTERNAL.
 */
export function errorResult(error: unknown, log: Logger): CallToolResult {
  let body: ToolError
  if (error instanceof SandboxApiError) {
    const { message, code, reason } = error
    const field = error instanceof InvalidArgumentsError ? error.field : undefined
    body = { error: message, code, ...(reason ? { reason } : {}), ...(field ? { field } : {}) }
  } else {
    log.error({ err: error }, 'tool call failed')
    body = { error: 'Internal error; the MCP server log has details', code: 'INTERNAL' }
  }
  return { content: [{ type: 'text', text: JSON.stringify(body) }], isError: true }
}

/**
 * Wraps a tool handler so that whatever it throws becomes an errorResult: nothing a client sends
 * ends the call with a protocol error or takes the server down. A call the client cancelled (or
 * whose connection closed) is not a failure, whatever the abort surfaced as: it is logged at debug.
 */
export function withErrorResults<Args extends unknown[]>(
  log: Logger,
  handler: (...args: Args) => Promise<CallToolResult>,
): (...args: Args) => Promise<CallToolResult> {
  return async function guarded(...args) {
    try {
      return await handler(...args)
    } catch (error) {
      const extra = args.at(-1) as { signal?: AbortSignal } | undefined
      if (extra?.signal?.aborted) {
        // The client cancelled or went away: this result is never sent, and nothing failed.
        log.debug({ reason: String(extra.signal.reason) }, 'tool call cancelled')
        return errorResult(new SandboxApiError('INTERNAL', 'The call was cancelled'), log)
      }
      return errorResult(error, log)
    }
  }
}
