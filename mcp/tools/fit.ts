import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js'
import { truncationMarker } from '../../sandbox/common.js'

/**
 * Largest tool result, in bytes of its JSON: the official Python MCP SDK rejects a server-sent
 * event over 1 MiB (others have similar limits), and the JSON-RPC envelope around the result
 * needs a little room.
 */
export const MAX_RESULT_BYTES = 1024 * 1024 - 16 * 1024 // 1 MiB less 16 KiB

/** The bytes a result takes in a JSON-RPC message. */
export function resultBytes(result: CallToolResult): number {
  return Buffer.byteLength(JSON.stringify(result))
}

/**
 * Cuts the middle of the named text fields of `value` until `build(value)` fits in
 * MAX_RESULT_BYTES, putting the sandbox's truncation marker where text was cut. The result JSON
 * travels twice (text block and structuredContent), which `build` accounts for by building it.
 * @param fields - string fields to cut, e.g. ['stdout', 'stderr']
 * @returns the result, and whether anything was cut
 */
export function fitResult<T extends Record<string, unknown>>(
  value: T,
  fields: readonly (keyof T & string)[],
  build: (value: T) => CallToolResult,
): { result: CallToolResult; cut: boolean } {
  let current = value
  let result = build(current)
  let cut = false
  for (let attempt = 0; attempt < 8; attempt++) {
    const excess = resultBytes(result) - MAX_RESULT_BYTES
    if (excess <= 0) return { result, cut }
    // The longest field gives up what the result is over, with a margin for JSON escapes.
    const field = fields.reduce((a, b) =>
      textOf(current, b).length > textOf(current, a).length ? b : a,
    )
    const text = textOf(current, field)
    if (!text) break
    const ratio = Buffer.byteLength(JSON.stringify(text)) / text.length
    const keep = Math.max(0, Math.floor(text.length - (excess / ratio) * 0.6 - 256))
    current = { ...current, [field]: cutMiddle(text, keep, field) }
    cut = true
    result = build(current)
  }
  return { result, cut }
}

/** Keeps the first and last `keep / 2` characters of `text`, with the marker between. */
function cutMiddle(text: string, keep: number, stream: string): string {
  const head = Math.ceil(keep / 2)
  const tail = keep - head
  return (
    text.slice(0, head) +
    truncationMarker(text.length - keep, stream) +
    text.slice(text.length - tail)
  )
}

function textOf(value: Record<string, unknown>, field: string): string {
  const text = value[field]
  return typeof text === 'string' ? text : ''
}
