import type { SandboxClient } from '../client/index.js'
import type { ParsedLine } from './cases.js'
import { type CaseResult, invalidCaseResult, runCase } from './judge.js'

/** How runAll runs the cases and where their results go. */
export type RunAllOptions = {
  client: SandboxClient
  /** Cases run at once. */
  concurrency: number
  /** Seconds each case may run; default: the sandbox's. */
  timeoutS?: number
  /** Aborting it starts no further case and cancels the running ones, whose results are dropped. */
  signal: AbortSignal
  /** Called once per finished case, in the order cases finish. */
  onResult: (result: CaseResult) => void
}

/**
 * Runs every case with at most `concurrency` at once. Lines that are not valid cases are reported
 * in turn as `error` results without reaching the sandbox.
 * @returns once every case finished, or the running ones were cancelled after an abort
 */
export async function runAll(lines: ParsedLine[], options: RunAllOptions): Promise<void> {
  const { client, concurrency, timeoutS, signal, onResult } = options
  let next = 0
  async function worker(): Promise<void> {
    for (let line = lines[next++]; line && !signal.aborted; line = lines[next++]) {
      if (!line.ok) {
        onResult(invalidCaseResult(line.value))
        continue
      }
      try {
        const result = await runCase(client, line.value, { timeoutS, signal })
        // A case cancelled midway has no verdict, even when its cut-short result still arrives.
        if (!signal.aborted) onResult(result)
      } catch (error) {
        if (!signal.aborted) throw error
      }
    }
  }
  await Promise.all(Array.from({ length: Math.min(concurrency, lines.length) }, worker))
}
