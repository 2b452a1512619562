/**
 * One cell run in a one-shot runner (jupyter/runs.ts), with the output, limits and error shapes
 * of a cell run in a context (execution.ts): the runner sends the messages a kernel would.
 */
import type { KernelMessage, ServerConnection } from '@jupyterlab/services'
import type { ExecutionError, ExecutionResult } from './api.js'
import { SandboxError } from './errors.js'
import {
  checkReply,
  type ExecuteOptions,
  executionFailed,
  finishExecution,
  timeoutError,
} from './execution.js'
import { type RunMessage, type RunRequest, startRun } from './jupyter/runs.js'
import { OutputCollector } from './output.js'

/**
 * How long past its timeout and grace the service waits on a run before dropping the request
 * (which makes the server kill the run): the server stops it itself well before.
 */
const RUN_DEADLINE_MARGIN_MS = 5000 // 5 s

export type RunOptions = Omit<ExecuteOptions, 'limitHit'>

/** What a run's stream said, in order: the reply (unless timed out first), the timeout, the exit. */
type Seen = { reply?: string; timedOut: boolean; exit?: number | null; broken: boolean }

/**
 * Runs `code` once in a fresh runner process and returns its result, like executeCell: code that
 * raises is a result with `success: false`. Past the timeout the server interrupts the run, then
 * kills it after the grace; either way the result is EXECUTION_TIMEOUT with the output before it.
 * @returns the result, or `unavailable` with the server's reason when the template cannot run it
 *   now (nothing ran: the caller runs it elsewhere)
 */
export async function executeRun(
  settings: ServerConnection.ISettings,
  run: Pick<RunRequest, 'code' | 'cwd' | 'home'>,
  options: RunOptions,
): Promise<{ result: ExecutionResult } | { unavailable: string }> {
  const started = performance.now()
  const { timeoutMs, graceMs, signal: clientSignal } = options
  const seen: Seen = { timedOut: false, broken: false }
  // One signal for the request: the client going away, or our own deadline.
  const controller = new AbortController()
  const abort = () => controller.abort()
  clientSignal.addEventListener('abort', abort, { once: true })
  if (clientSignal.aborted) abort()
  const deadline = setTimeout(
    () => {
      if (seen.reply === undefined) seen.timedOut = true
      abort()
    },
    timeoutMs + graceMs + RUN_DEADLINE_MARGIN_MS,
  )
  const collector = new OutputCollector(options.maxOutputChars, options.onEvent)
  try {
    const request = { ...run, timeoutMs, graceMs }
    const start = await startRun(settings, request, controller.signal).catch((error) => {
      if (error instanceof SandboxError || controller.signal.aborted) throw error
      throw new SandboxError('UNAVAILABLE', 'The Jupyter Server could not be reached', {
        cause: error,
      })
    })
    if (start.kind === 'unavailable') return { unavailable: start.reason }
    await follow(start.messages, collector, seen).catch(() => {
      // Aborted by us (client gone, deadline), or the connection broke: the server went away.
      seen.broken = !controller.signal.aborted
    })
  } finally {
    clearTimeout(deadline)
    clientSignal.removeEventListener('abort', abort)
  }
  const error = verdict(seen, timeoutMs)
  if (error) collector.setError(error)
  else if (seen.reply !== undefined) checkReply(collector, seen.reply)
  return {
    result: finishExecution(collector, { started, restarted: false, onEvent: options.onEvent }),
  }
}

/** The sandbox's own error for how the run ended, if it did not end with its reply. */
function verdict(seen: Seen, timeoutMs: number): ExecutionError | undefined {
  if (seen.timedOut) return timeoutError(timeoutMs, 'the run was stopped')
  if (seen.reply !== undefined) return undefined
  if (seen.exit !== undefined) {
    const how =
      seen.exit === null
        ? 'ended'
        : seen.exit < 0
          ? `was killed by signal ${-seen.exit}`
          : `exited with status ${seen.exit}`
    return executionFailed(
      'kernel_died',
      `The process running this code ${how} before the code finished; output up to then is kept`,
    )
  }
  if (seen.broken) {
    return executionFailed(
      'kernel_lost',
      'The Jupyter Server running this code stopped before it finished; run it again',
    )
  }
  // The client went away: nobody reads this result.
  return undefined
}

/** Feeds the run's kernel messages to the collector and notes what ends the run. */
async function follow(
  messages: AsyncIterable<RunMessage>,
  collector: OutputCollector,
  seen: Seen,
): Promise<void> {
  for await (const { msg_type, content } of messages) {
    if (msg_type === 'execute_reply') {
      if (!seen.timedOut) seen.reply = String(content.status)
      collector.executionCount ??= (content.execution_count as number | undefined) ?? null
    } else if (msg_type === 'sci_timeout') {
      if (seen.reply === undefined) seen.timedOut = true
    } else if (msg_type === 'sci_exit') {
      // null when the server could not learn the status in time
      seen.exit = typeof content.status === 'number' ? content.status : null
    } else {
      collector.handle({ header: { msg_type }, content } as KernelMessage.IIOPubMessage)
    }
  }
  // The stream ended without the runner's exit: the server went away under it.
  if (seen.exit === undefined) seen.broken = true
}
