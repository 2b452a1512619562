import type { ExecutionError, ExecutionEvent, ExecutionResult } from './api.js'
import type { JupyterKernel, KernelDisruption } from './jupyter/kernel.js'
import { OutputCollector } from './output.js'
import type { LimitHit } from './runtimes/runtime.js'

export type ExecuteOptions = {
  timeoutMs: number
  /** How long an interrupted cell may take to stop before the kernel is restarted. */
  graceMs: number
  maxOutputChars: number
  /** Aborted when the client goes away: the cell is interrupted like a timeout. */
  signal: AbortSignal
  onEvent?: (event: ExecutionEvent) => void
  /** The limit that explains a kernel death, when the runtime saw one (docker: OOM). */
  limitHit?: () => LimitHit | undefined
}

const DISRUPTION_ERRORS: Record<KernelDisruption | 'dead', { reason: string; message: string }> = {
  dead: {
    reason: 'kernel_dead',
    message:
      'The kernel died again right after each restart, so it was not restarted; its state is lost. Restart the context to continue',
  },
  died: {
    reason: 'kernel_died',
    message: 'The kernel died while running this code; it was restarted and its state is lost',
  },
  lost: {
    reason: 'kernel_lost',
    message:
      'The Jupyter Server (or container) hosting this kernel stopped; restart the context to continue',
  },
  restarted: {
    reason: 'kernel_restarted',
    message: 'The context was restarted while this code ran; its state is cleared',
  },
  shutdown: { reason: 'context_stopped', message: 'The context was stopped while this code ran' },
}

/** How long a kernel restart we asked for may take before the kernel is given up as lost. */
export const KERNEL_RESTART_TIMEOUT_MS = 30_000 // 30 s
/** How long an execute waits for a kernel Jupyter restarts on its own (it died) to answer. */
export const KERNEL_READY_TIMEOUT_MS = 60_000 // 60 s

type Outcome =
  | { kind: 'reply'; status: string }
  | { kind: 'timeout' }
  | { kind: 'aborted' }
  | { kind: 'disrupted'; disruption: KernelDisruption }

/**
 * Runs one cell and returns its result. Code that raises is a result with `success: false`, not an
 * exception. Past the timeout the cell is interrupted; a kernel that does not stop within the grace
 * is restarted. A kernel that dies or is restarted under the cell ends it at once.
 */
export async function executeCell(
  kernel: JupyterKernel,
  code: string,
  options: ExecuteOptions,
): Promise<ExecutionResult> {
  const started = performance.now()
  const collector = new OutputCollector(options.maxOutputChars, options.onEvent)
  let unsubscribe = () => {}
  const disrupted = new Promise<Outcome>((resolve) => {
    unsubscribe = kernel.onDisruption((disruption) => resolve({ kind: 'disrupted', disruption }))
  })
  const timer = timeout(options.timeoutMs)
  let restarted = false
  try {
    const reply = kernel
      .execute(code, (msg) => collector.handle(msg))
      .then(
        (content): Outcome => {
          // tslab sends no execute_input: its count comes with the reply.
          collector.executionCount ??= content.execution_count ?? null
          return { kind: 'reply', status: content.status }
        },
        // A disposed future rejects; the disruption that caused it says why.
        () => disrupted,
      )
    const aborted = abortOutcome(options.signal)
    const outcome = await Promise.race([reply, disrupted, timer.promise, aborted])
    if (outcome.kind === 'timeout' || outcome.kind === 'aborted') {
      restarted = await stopCell(kernel, reply, options.graceMs)
      if (outcome.kind === 'timeout') {
        const after = restarted
          ? 'the kernel did not stop when interrupted and was restarted; its state is lost'
          : 'the cell was interrupted; the context keeps its state'
        collector.setError(timeoutError(options.timeoutMs, after))
      }
    }
    if (outcome.kind === 'disrupted') {
      // Jupyter restarts a dead kernel up to its restart limit, then gives up on it.
      const disruption =
        outcome.disruption === 'died' && !kernel.usable ? 'dead' : outcome.disruption
      restarted = disruption === 'died' || disruption === 'restarted'
      const limit = options.limitHit?.()
      collector.setError(limit ? limitError(limit, disruption) : disruptionError(disruption))
    }
    if (outcome.kind === 'reply') checkReply(collector, outcome.status)
    return finishExecution(collector, { started, restarted, onEvent: options.onEvent })
  } finally {
    timer.clear()
    unsubscribe()
  }
}

/**
 * Interrupts the running cell and waits for it to stop; restarts the kernel when it does not stop
 * within the grace (a busy loop in Node, a Python loop that swallows KeyboardInterrupt).
 * @returns whether the kernel was restarted
 */
async function stopCell(
  kernel: JupyterKernel,
  reply: Promise<Outcome>,
  graceMs: number,
): Promise<boolean> {
  const grace = timeout(graceMs)
  try {
    await kernel.interrupt(AbortSignal.timeout(graceMs)).catch(() => undefined)
    const outcome = await Promise.race([reply, grace.promise])
    if (outcome.kind !== 'timeout') return outcome.kind === 'disrupted'
    try {
      await kernel.restart(AbortSignal.timeout(KERNEL_RESTART_TIMEOUT_MS))
      return true
    } catch {
      // The server did not restart it (it may be gone itself): the context reports the loss.
      kernel.markLost()
      return false
    }
  } finally {
    grace.clear()
  }
}

/**
 * A reply without success whose kernel sent no error message (ipykernel out of threads or memory)
 * still fails the execution, with a KernelError that says so.
 */
export function checkReply(collector: OutputCollector, status: string): void {
  if (status === 'ok' || collector.error) return
  collector.setError({
    name: 'KernelError',
    value: `The kernel answered "${status}" without details (it may be out of threads or memory)`,
    traceback: '',
  })
}

/** The execution's result from what was collected; sent as the `end` event too. */
export function finishExecution(
  collector: OutputCollector,
  {
    started,
    restarted,
    onEvent,
  }: { started: number; restarted: boolean; onEvent: ExecuteOptions['onEvent'] },
): ExecutionResult {
  const result: ExecutionResult = {
    success: !collector.error,
    ...collector.output(),
    ...(collector.error ? { error: collector.error } : {}),
    execution_count: collector.executionCount,
    execution_time: Number(((performance.now() - started) / 1000).toFixed(6)),
    context_restarted: restarted,
  }
  onEvent?.({ type: 'end', result })
  return result
}

function timeout(ms: number) {
  let handle: NodeJS.Timeout | undefined
  const promise = new Promise<Outcome>((resolve) => {
    handle = setTimeout(() => resolve({ kind: 'timeout' }), ms)
  })
  return { promise, clear: () => clearTimeout(handle) }
}

function abortOutcome(signal: AbortSignal): Promise<Outcome> {
  return new Promise((resolve) => {
    if (signal.aborted) resolve({ kind: 'aborted' })
    else signal.addEventListener('abort', () => resolve({ kind: 'aborted' }), { once: true })
  })
}

/** @param after - what became of the code and its state, for the message */
export function timeoutError(timeoutMs: number, after: string): ExecutionError {
  return {
    name: 'EXECUTION_TIMEOUT',
    value: `Execution exceeded the ${timeoutMs / 1000} s timeout: ${after}. Pass a larger "timeout" to allow longer runs`,
    traceback: '',
    code: 'EXECUTION_TIMEOUT',
  }
}

/** A kernel killed by a limit of its environment (the docker runtime's memory cgroup). */
function limitError(
  limit: { reason: string; detail: string },
  disruption: KernelDisruption | 'dead',
): ExecutionError {
  return {
    name: 'LIMIT_EXCEEDED',
    value: `The code reached the context's ${limit.reason} limit (${limit.detail}) and its kernel was killed. ${DISRUPTION_ERRORS[disruption].message}`,
    traceback: '',
    code: 'LIMIT_EXCEEDED',
    reason: limit.reason,
  }
}

function disruptionError(disruption: KernelDisruption | 'dead'): ExecutionError {
  const { reason, message } = DISRUPTION_ERRORS[disruption]
  return executionFailed(reason, message)
}

/** Code whose kernel (or process) went away under it: EXECUTION_FAILED with the reason. */
export function executionFailed(reason: string, message: string): ExecutionError {
  return {
    name: 'EXECUTION_FAILED',
    value: message,
    traceback: '',
    code: 'EXECUTION_FAILED',
    reason,
  }
}
