// Our execution events as E2B's JSON lines: the one place that knows E2B's result keys and
// line types (the wire format of E2B's code-interpreter server, template/server).
import type { ExecutionEvent, MimeBundle } from '../api.js'

/** MIME type → the key E2B's Result carries it under; anything else goes to `extra`. */
const KEY_BY_MIME: Record<string, string> = {
  'text/plain': 'text',
  'text/html': 'html',
  'text/markdown': 'markdown',
  'image/svg+xml': 'svg',
  'image/png': 'png',
  'image/jpeg': 'jpeg',
  'application/pdf': 'pdf',
  'text/latex': 'latex',
  'application/json': 'json',
  'application/javascript': 'javascript',
  'e2b/data': 'data',
  'e2b/chart': 'chart',
}

export type E2bLine = Record<string, unknown> & { type: string }

/**
 * One rich output as E2B's `result` line.
 * @param isMainResult - whether it is the cell's value (execute_result) rather than a display
 */
export function resultLine(data: MimeBundle, isMainResult: boolean): E2bLine {
  const line: E2bLine = { type: 'result', is_main_result: isMainResult }
  const extra: Record<string, unknown> = {}
  for (const [mime, value] of Object.entries(data)) {
    const key = KEY_BY_MIME[mime]
    if (key) line[key] = key === 'text' ? unquote(String(value)) : value
    else extra[mime] = value
  }
  if (Object.keys(extra).length > 0) line.extra = extra
  return line
}

/** E2B shows a string value without the quotes of its repr: `'hi'` → `hi`. */
function unquote(text: string): string {
  const quoted =
    text.length >= 2 &&
    ((text.startsWith("'") && text.endsWith("'")) || (text.startsWith('"') && text.endsWith('"')))
  return quoted ? text.slice(1, -1) : text
}

/**
 * Whether a rich output is the cell's value. Our result events carry `is_main_result` once the
 * contract has it; until then the cell's value is told apart by where it comes: the last result
 * with text/plain that is not a figure matplotlib flushed after the cell (post_execute).
 * @returns the flag the event carries, or undefined when it must be guessed at the end
 */
export function mainResultFlag(event: ExecutionEvent & { type: 'result' }): boolean | undefined {
  const flag = (event as { is_main_result?: unknown }).is_main_result
  return typeof flag === 'boolean' ? flag : undefined
}

/** Among results without a flag, the index of the cell's value (see mainResultFlag), or -1. */
export function guessMainResult(results: MimeBundle[]): number {
  for (let i = results.length - 1; i >= 0; i -= 1) {
    const text = results[i]?.['text/plain']
    if (typeof text !== 'string') continue
    if (text.startsWith('<Figure size') && 'image/png' in (results[i] ?? {})) continue
    return i
  }
  return -1
}

/**
 * Maps one of our events to E2B's lines; results without a flag are held by the caller and
 * written at the end (mainResultFlag).
 */
export function eventLines(event: ExecutionEvent, now: () => string): E2bLine[] {
  switch (event.type) {
    case 'stdout':
    case 'stderr':
      return [{ type: event.type, text: event.text, timestamp: now() }]
    case 'result': {
      const flag = mainResultFlag(event)
      return flag === undefined ? [] : [resultLine(event.data, flag)]
    }
    case 'error': {
      const { name, value, traceback } = event.error
      return [{ type: 'error', name, value, traceback }]
    }
    case 'end':
      return event.result.execution_count === null
        ? []
        : [{ type: 'number_of_executions', execution_count: event.result.execution_count }]
  }
}
