import { randomUUID } from 'node:crypto'
import type { Logger } from 'pino'
import type { ExecutionResult } from '../../api.js'
import type { JupyterServer } from '../../jupyter/server.js'
import { executeRun } from '../../one-shot.js'
import { type OneShotRequest, writeInlineFiles } from '../runtime.js'
import type { KernelUids, Owner } from './uids.js'
import { HostWorkspace } from './workspace.js'

export type RunnerHost = {
  server: JupyterServer
  uids: KernelUids | undefined
  workspaceRoot: string
  log: Logger
  /** Takes the run's cleanup, which goes on after the answer; the runtime awaits it on close. */
  background: (cleanup: Promise<void>) => void
}

/**
 * Runs a one-shot request in a runner the kernel template forks: in a working dir of its own and,
 * with kernel uids, as a fresh uid. Once the result is out, every process of that uid is killed
 * (so a child the run left behind dies too), then its home and working dir are removed.
 * @returns undefined when the template cannot run it now (logged): nothing ran
 */
export async function runInRunner(
  host: RunnerHost,
  request: OneShotRequest,
): Promise<ExecutionResult | undefined> {
  const { server, uids, workspaceRoot, log } = host
  const { language, code, files, ...options } = request
  const started = performance.now()
  const home = await uids?.allocate()
  let workspace: HostWorkspace | undefined
  try {
    workspace = await HostWorkspace.open(workspaceRoot, `run-${randomUUID()}`, undefined)
    if (home) await workspace.own(home.owner)
    await writeInlineFiles(workspace, files)
    const setupMs = performance.now() - started
    const cwd = workspace.dir
    const run = await executeRun(server.settings, { code, cwd, home: home?.home ?? null }, options)
    log.debug({ setupMs, runMs: performance.now() - started - setupMs }, 'one-shot run')
    if ('result' in run) return run.result
    log.info({ language, reason: run.unavailable }, 'one-shot run falls back to a kernel')
    return undefined
  } finally {
    // After the answer: at 1 run at a time, 11 ms of 80 per run here.
    host.background(cleanUp(uids, home?.owner, workspace))
  }
}

/** Kills every process of the run's uid and frees it, then removes the working dir. */
async function cleanUp(
  uids: KernelUids | undefined,
  owner: Owner | undefined,
  workspace: HostWorkspace | undefined,
): Promise<void> {
  try {
    if (owner) await uids?.release(owner)
  } finally {
    await workspace?.close()
  }
}
