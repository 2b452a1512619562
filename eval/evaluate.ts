import { readFile } from 'node:fs/promises'
import { text } from 'node:stream/consumers'
import type { Language } from '../sandbox/api.js'
import { parseCases } from './cases.js'
import { createEvalClient, type EvalClient } from './client.js'
import { startEmbedded } from './embedded.js'
import type { CaseResult } from './judge.js'
import { openResults } from './output.js'
import { createProgress } from './progress.js'
import { runAll } from './runner.js'
import { summarize } from './summary.js'

/** A run of the CLI, from its parsed options. */
export type EvaluateOptions = {
  /** JSONL cases file, or `-` for stdin. */
  cases: string
  /** The sandbox service; without it an embedded sandbox runs the cases. */
  url?: string
  apiKey?: string
  concurrency: number
  timeoutS?: number
  /** Results JSONL; stdout when absent or `-`. */
  output?: string
  /** Exit 1 when a case did not pass. */
  failOnNotPass: boolean
  /** Read by the embedded sandbox for its SANDBOX_* settings. */
  env: Record<string, string | undefined>
}

/**
 * Runs a cases file and reports it: results JSONL as cases finish, progress on stderr, and a
 * summary on stdout (on stderr when stdout carries the results).
 * SIGINT or SIGTERM stops the run: no further case starts, running cases are cancelled (their
 * cells interrupted) and left out of the results, and what finished is kept and summarized.
 * @returns the exit code: 0, 1 when a case did not pass, 130 / 143 after SIGINT / SIGTERM
 */
export async function evaluate(options: EvaluateOptions): Promise<number> {
  // Before the embedded sandbox starts, so an early Ctrl-C still stops its kernels.
  const interrupt = abortOnSignals()
  const lines = parseCases(await readCases(options.cases))
  const languages = new Set<Language>(
    lines.flatMap((line) => (line.ok ? [line.value.language] : [])),
  )
  const backend = await connect(options, languages)
  const toStdout = options.output === undefined || options.output === '-'
  const results: CaseResult[] = []
  const started = performance.now()
  try {
    const sink = openResults(options.output)
    const progress = createProgress(lines.length, process.stderr)
    interrupt.signal.addEventListener('abort', () =>
      progress.note(`${interrupt.received()}: cancelling running cases, keeping the finished ones`),
    )
    try {
      await runAll(lines, {
        client: backend.client,
        concurrency: options.concurrency,
        timeoutS: options.timeoutS,
        signal: interrupt.signal,
        onResult(result) {
          sink.write(result)
          results.push(result)
          progress.done(result)
        },
      })
    } finally {
      progress.stop()
      sink.close()
    }
    const wallS = (performance.now() - started) / 1000
    ;(toStdout ? process.stderr : process.stdout).write(summarize(results, lines.length, wallS))
  } finally {
    await backend.close()
  }
  const signal = interrupt.received()
  if (signal) return signal === 'SIGINT' ? 130 : 143
  return options.failOnNotPass && results.some((result) => result.status !== 'pass') ? 1 : 0
}

/** Turns the first SIGINT or SIGTERM into an abort; a second one ends the process as usual. */
function abortOnSignals(): { signal: AbortSignal; received: () => NodeJS.Signals | undefined } {
  const controller = new AbortController()
  let received: NodeJS.Signals | undefined
  const onSignal = (signal: NodeJS.Signals) => {
    received ??= signal
    controller.abort()
  }
  process.once('SIGINT', onSignal)
  process.once('SIGTERM', onSignal)
  return { signal: controller.signal, received: () => received }
}

async function readCases(file: string): Promise<string> {
  return file === '-' ? text(process.stdin) : readFile(file, 'utf8')
}

async function connect(
  options: EvaluateOptions,
  languages: ReadonlySet<Language>,
): Promise<{ client: EvalClient; close: () => Promise<void> }> {
  if (options.url) {
    const baseUrl = options.url.replace(/\/+$/, '')
    const client = createEvalClient({ fetch: globalThis.fetch, baseUrl, apiKey: options.apiKey })
    await client.checkHealth()
    return { client, close: async () => {} }
  }
  process.stderr.write('starting the embedded sandbox …\n')
  return startEmbedded({ env: options.env, languages, concurrency: options.concurrency })
}
