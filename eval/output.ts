import { closeSync, openSync, writeSync } from 'node:fs'
import type { CaseResult } from './judge.js'

/** Where result lines go, one JSON object per finished case. */
export type ResultsSink = {
  write(result: CaseResult): void
  close(): void
}

/**
 * Opens the results file, truncating it, or stdout for `-` or no path.
 * Each line is written with a synchronous write(2) as its case finishes: once a case is counted it
 * is in the file, so an interrupt or a crash later keeps every finished case, whole.
 */
export function openResults(file: string | undefined): ResultsSink {
  if (file === undefined || file === '-') {
    return {
      // Synchronous on Linux for files, pipes and terminals alike.
      write: (result) => void process.stdout.write(`${JSON.stringify(result)}\n`),
      close() {},
    }
  }
  const fd = openSync(file, 'w')
  let closed = false
  return {
    write: (result) => void writeSync(fd, `${JSON.stringify(result)}\n`),
    close() {
      if (closed) return
      closed = true
      closeSync(fd)
    },
  }
}
