import pino, { type Logger } from 'pino'

/**
 * The service's structured logger: JSON lines on stderr, so stdout stays free (the MCP stdio
 * transport owns it). @jupyterlab/services writes its own chatter with console.debug and
 * console.log; route that to the logger at debug level for the same reason.
 */
export function createLogger(level: string): Logger {
  const log = pino({ level, base: { service: 'sandbox' } }, pino.destination(2))
  const chatter = (...args: unknown[]) => log.debug(args.map(String).join(' '))
  console.debug = chatter
  console.log = chatter
  return log
}
