// Our execution events as E2B's JSON lines: the one place that knows E2B's result keys and
// line types (the wire format of E2B's code-interpreter server, template/server).
import type { ExecutionEvent, ResultEntry } from '../api.js'

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

/** One rich output as E2B's `result` line; `is_main_result` marks the cell's value. */
export function resultLine(entry: ResultEntry): E2bLine {
  const { is_main_result: isMainResult, ...data } = entry
  const line: E2bLine = { type: 'result', is_main_result: isMainResult === true }
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

/** Maps one of our events to E2B's lines. */
export function eventLines(event: ExecutionEvent, now: () => string): E2bLine[] {
  switch (event.type) {
    case 'stdout':
    case 'stderr':
      return [{ type: event.type, text: event.text, timestamp: now() }]
    case 'result':
      return [resultLine(event.data)]
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
