import { SandboxApiError, type SandboxClient } from '../client/index.js'
import type { ExecutionResult, Language } from '../sandbox/api.js'
import type { EvalCase, InvalidCase } from './cases.js'

/** Verdicts of a case, in the order summaries list them. */
export const STATUSES = ['pass', 'fail', 'error', 'timeout'] as const
export type Status = (typeof STATUSES)[number]

/**
 * Why a case did not pass. `phase` says where: a step of the case, the stdout check, the case line
 * itself (`input`) or the sandbox call (`sandbox`, with the sandbox's error code as `name`).
 */
export type CaseError = {
  name: string
  value: string
  traceback: string
  phase: 'setup' | 'code' | 'test' | 'check' | 'input' | 'sandbox'
}

/** One line of the results file. `stdout`/`stderr` are the code's own; `time` is wall seconds. */
export type CaseResult = {
  id: string
  language: Language | null
  status: Status
  stdout: string
  stderr: string
  error: CaseError | null
  time: number
}

type Step = { phase: 'setup' | 'code' | 'test'; result: ExecutionResult }

/**
 * Runs one case in a context of its own and judges it:
 * - `timeout`: a step ran past the case's time budget;
 * - `error`: setup or code raised, or the sandbox could not run the case;
 * - `fail`: everything ran, but the test raised or stdout differs from `expected_stdout`;
 * - `pass`: otherwise.
 * A case without setup or test runs through the one-shot route; one with them gets a context that
 * runs setup, code and test in turn and is deleted after. Either way no kernel serves two cases.
 * @param options.timeoutS - seconds the case's steps may run in all; default: the sandbox's
 * @param options.signal - cancels the case: its running cell is interrupted and this rejects
 */
export async function runCase(
  client: SandboxClient,
  evalCase: EvalCase,
  options: { timeoutS?: number; signal: AbortSignal },
): Promise<CaseResult> {
  const started = performance.now()
  const finish = (verdict: Omit<CaseResult, 'id' | 'language' | 'time'>): CaseResult => ({
    id: evalCase.id,
    language: evalCase.language,
    ...verdict,
    time: Math.round(performance.now() - started) / 1000,
  })
  try {
    const steps =
      evalCase.setup === undefined && evalCase.test === undefined
        ? [await runAlone(client, evalCase, options)]
        : await runInContext(client, evalCase, options)
    return finish(judge(evalCase, steps))
  } catch (error) {
    if (options.signal.aborted || !(error instanceof SandboxApiError)) throw error
    const { code, message } = error
    const failure: CaseError = { name: code, value: message, traceback: '', phase: 'sandbox' }
    return finish({ status: 'error', stdout: '', stderr: '', error: failure })
  }
}

/** The result line of a case line that could not be read. */
export function invalidCaseResult(invalid: InvalidCase): CaseResult {
  return {
    id: invalid.id,
    language: null,
    status: 'error',
    stdout: '',
    stderr: '',
    error: { name: 'InvalidCase', value: invalid.message, traceback: '', phase: 'input' },
    time: 0,
  }
}

/**
 * The comparison rule for `expected_stdout`: line endings become `\n`, whitespace at the end of
 * every line is dropped, and so are trailing empty lines. Leading whitespace and blank lines
 * between lines still count. So `print(2)` ("2\n") matches "2".
 */
export function normalizeStdout(text: string): string {
  return text
    .replace(/\r\n?/g, '\n')
    .split('\n')
    .map((line) => line.trimEnd())
    .join('\n')
    .replace(/\n+$/, '')
}

async function runAlone(
  client: SandboxClient,
  { language, code }: EvalCase,
  { timeoutS, signal }: { timeoutS?: number; signal: AbortSignal },
): Promise<Step> {
  return {
    phase: 'code',
    result: await client.runOnce({ language, code, timeout: timeoutS }, { signal }),
  }
}

async function runInContext(
  client: SandboxClient,
  evalCase: EvalCase,
  { timeoutS, signal }: { timeoutS?: number; signal: AbortSignal },
): Promise<Step[]> {
  const context = await client.createContext(
    { language: evalCase.language, name: 'sandbox-eval' },
    { signal },
  )
  try {
    const steps: Step[] = []
    let usedS = 0
    for (const phase of ['setup', 'code', 'test'] as const) {
      const code = evalCase[phase]
      if (code === undefined) continue
      // The budget is the case's, not each step's: a slow setup leaves less time for the test.
      const timeout = timeoutS === undefined ? undefined : Math.max(timeoutS - usedS, 0.001)
      const result = await client.execute(context.context_id, { code, timeout }, { signal })
      steps.push({ phase, result })
      usedS += result.execution_time
      if (!result.success) break
    }
    return steps
  } finally {
    // Not abortable: it is cleanup. A context that is already gone counts as stopped.
    await client.stopContext(context.context_id).catch((error: unknown) => {
      if (!(error instanceof SandboxApiError && error.code === 'CONTEXT_NOT_FOUND')) throw error
    })
  }
}

function judge(evalCase: EvalCase, steps: Step[]): Omit<CaseResult, 'id' | 'language' | 'time'> {
  const code = steps.find((step) => step.phase === 'code')?.result.output
  const output = { stdout: code?.stdout ?? '', stderr: code?.stderr ?? '' }
  const failed = steps.find((step) => !step.result.success)
  if (failed) {
    const { name = 'Error', value = '', traceback = '', code: verdict } = failed.result.error ?? {}
    const error: CaseError = { name, value, traceback, phase: failed.phase }
    if (verdict === 'EXECUTION_TIMEOUT') return { status: 'timeout', ...output, error }
    return { status: failed.phase === 'test' ? 'fail' : 'error', ...output, error }
  }
  const expected = evalCase.expected_stdout
  if (expected !== undefined && normalizeStdout(output.stdout) !== normalizeStdout(expected)) {
    const value = `stdout differs from expected_stdout ${JSON.stringify(expected.slice(0, 200))}`
    const error: CaseError = { name: 'StdoutMismatch', value, traceback: '', phase: 'check' }
    return { status: 'fail', ...output, error }
  }
  return { status: 'pass', ...output, error: null }
}
