import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js'
import type { Logger } from 'pino'
import type { ErrorBody } from '../../sandbox/api.js'
import { SandboxApiError } from '../sandbox-client.js'

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

/**
 * An `isError` result whose text is the sandbox's envelope `{error: {code, message}}`. It has no
 * structuredContent: the envelope does not match the tool's output schema, and clients validate it.
 * Unknown errors are logged and reported as an opaque INTERNAL.
 */
export function errorResult(error: unknown, log: Logger): CallToolResult {
  let body: ErrorBody
  if (error instanceof SandboxApiError) body = error.toBody()
  else if (error instanceof Error && error.name === 'AbortError') {
    // The client cancelled or went away: this result is never sent, and nothing failed.
    log.debug('tool call cancelled')
    body = { error: { code: 'INTERNAL', message: 'The call was cancelled' } }
  } else {
    log.error({ err: error }, 'tool call failed')
    body = {
      error: { code: 'INTERNAL', message: 'Internal error; the MCP server log has details' },
    }
  }
  return { content: [{ type: 'text', text: JSON.stringify(body) }], isError: true }
}

/**
 * Wraps a tool handler so that whatever it throws becomes an errorResult: nothing a client sends
 * ends the call with a protocol error or takes the server down.
 */
export function withErrorResults<Args extends unknown[]>(
  log: Logger,
  handler: (...args: Args) => Promise<CallToolResult>,
): (...args: Args) => Promise<CallToolResult> {
  return async function guarded(...args) {
    try {
      return await handler(...args)
    } catch (error) {
      return errorResult(error, log)
    }
  }
}
