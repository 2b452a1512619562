import { readFile } from 'node:fs/promises'
import { text } from 'node:stream/consumers'
import { createSandboxClient, type SandboxClient } from '../client/index.js'
import type { Language } from '../sandbox/api.js'
import { parseCases } from './cases.js'
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

/**
 * Longest wait for 429 LIMIT_EXCEEDED answers of one call before it fails, each retried after the
 * sandbox's Retry-After: a shared sandbox at SANDBOX_MAX_CONTEXTS frees contexts in seconds.
 */
export const RETRY_LIMIT_MS = 300_000 // 5 min

const POOL_VARIABLE: Record<Language, string> = {
  python: 'SANDBOX_POOL_PYTHON',
  javascript: 'SANDBOX_POOL_JAVASCRIPT',
  typescript: 'SANDBOX_POOL_TYPESCRIPT',
}

/**
 * Settings of the embedded sandbox where the environment sets none: it logs warnings only and
 * keeps warm kernels for the languages the cases use, as many as run at once but at least 2, and
 * none for the others. (With 1 warm kernel, one case at a time often waits for a whole kernel
 * start: measured on 2 cores, 1.3–2.3 jobs/s against 2.4 with 2.)
 */
export function embeddedDefaults(
  languages: ReadonlySet<Language>,
  concurrency: number,
): Record<string, string> {
  const defaults: Record<string, string> = { LOG_LEVEL: 'warn' }
  const warm = String(Math.max(concurrency, 2))
  for (const [language, variable] of Object.entries(POOL_VARIABLE)) {
    defaults[variable] = languages.has(language as Language) ? warm : '0'
  }
  return defaults
}

async function connect(
  options: EvaluateOptions,
  languages: ReadonlySet<Language>,
): Promise<{ client: SandboxClient; close: () => Promise<void> }> {
  if (options.url) {
    const baseUrl = options.url.replace(/\/+$/, '')
    const { apiKey } = options
    const client = createSandboxClient({ baseUrl, apiKey, retryLimitMs: RETRY_LIMIT_MS })
    // A run against a sandbox that is down fails at once, not case by case.
    await client.health()
    return { client, close: async () => {} }
  }
  process.stderr.write('starting the embedded sandbox …\n')
  const { startEmbeddedSandbox } = await import('../client/embedded.js')
  return startEmbeddedSandbox({
    env: options.env,
    defaults: embeddedDefaults(languages, options.concurrency),
    retryLimitMs: RETRY_LIMIT_MS,
  })
}
