import pino, { type Level, type Logger } from 'pino'

/**
 * Console lines of libraries that are routine, logged at a lower level than the console method
 * they use: @jupyterlab/services warns on every WebSocket reconnect, which follows each kernel
 * restart and death that the service itself reports.
 */
const ROUTINE: { pattern: RegExp; level: Level }[] = [
  { pattern: /^Connection lost, reconnecting in \d+ seconds\.$/, level: 'info' },
]

/**
 * The service's structured logger: JSON lines on stderr, so stdout stays free (the MCP stdio
 * transport owns it), with the level as an upper-case label (`docker logs … | grep ERROR`).
 * Libraries that write to the console (@jupyterlab/services) are routed to it too, at the level
 * of the console method they call, so that every line of the stream is JSON.
 */
export function createLogger(level: string): Logger {
  const log = pino(
    {
      level,
      base: { service: 'sandbox' },
      formatters: { level: (label) => ({ level: label.toUpperCase() }) },
    },
    pino.destination(2),
  )
  const console_ = globalThis.console
  console_.debug = chatter(log, 'debug')
  console_.log = chatter(log, 'debug')
  console_.info = chatter(log, 'info')
  console_.warn = chatter(log, 'warn')
  console_.error = chatter(log, 'error')
  return log
}

function chatter(log: Logger, level: Level) {
  return function logConsole(...args: unknown[]): void {
    const err = args.find((arg) => arg instanceof Error)
    const message = args
      .filter((arg) => arg !== err)
      .map(String)
      .join(' ')
    const routine = ROUTINE.find(({ pattern }) => pattern.test(message))
    const fields = { source: 'console', ...(err ? { err } : {}) }
    log[routine?.level ?? level](fields, message || String(err))
  }
}
