import { Presets, SingleBar } from 'cli-progress'
import { type CaseResult, STATUSES, type Status } from './judge.js'

/** Shows how a run goes: a live bar on a terminal, one plain line per finished case otherwise. */
export type Progress = {
  /** Counts a finished case. */
  done(result: CaseResult): void
  /** Prints a message above the bar (or as a plain line). */
  note(message: string): void
  /** Leaves the bar in its final state. Idempotent. */
  stop(): void
}

/**
 * @param total - cases in the run
 * @param stream - where progress goes; stdout may carry the results, so the CLI passes stderr
 */
export function createProgress(total: number, stream: NodeJS.WriteStream): Progress {
  const counts = Object.fromEntries(STATUSES.map((status) => [status, 0])) as Record<Status, number>
  if (!stream.isTTY) {
    let finished = 0
    const width = String(total).length
    return {
      done(result) {
        finished += 1
        const n = String(finished).padStart(width)
        stream.write(`[${n}/${total}] ${result.status.padEnd(7)} ${result.id} (${result.time} s)\n`)
      },
      note: (message) => void stream.write(`${message}\n`),
      stop() {},
    }
  }
  const bar = new SingleBar(
    {
      stream,
      format:
        '{bar} {value}/{total} | pass {pass} fail {fail} error {error} timeout {timeout} | {duration_formatted}, ETA {eta_formatted}',
      hideCursor: true,
      // The CLI handles Ctrl-C itself and stops the bar on its way out.
      gracefulExit: false,
    },
    Presets.shades_classic,
  )
  bar.start(total, 0, counts)
  let stopped = false
  return {
    done(result) {
      counts[result.status] += 1
      bar.increment(1, counts)
    },
    note(message) {
      // A SingleBar has no log(): clear its line, print, and draw it again below.
      stream.write(`\r\x1b[2K${message}\n`)
      bar.render()
    },
    stop() {
      if (stopped) return
      stopped = true
      bar.stop()
    },
  }
}
