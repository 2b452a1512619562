import { randomUUID } from 'node:crypto'
import type { Logger } from 'pino'
import type { ExecutionResult } from '../../api.js'
import type { JupyterServer } from '../../jupyter/server.js'
import { executeRun } from '../../one-shot.js'
import { type OneShotRequest, writeInlineFiles } from '../runtime.js'
import type { KernelUids } from './uids.js'
import { HostWorkspace } from './workspace.js'

/**
 * Runs a one-shot request in a runner the kernel template forks: in a working dir of its own and,
 * with kernel uids, as a fresh uid whose processes are all killed once the run ends (so a child it
 * left running dies with it), then its home and working dir are removed.
 * @returns undefined when the template cannot run it now (logged): nothing ran, nothing is left
 */
export async function runInRunner(
  host: { server: JupyterServer; uids: KernelUids | undefined; workspaceRoot: string; log: Logger },
  request: OneShotRequest,
): Promise<ExecutionResult | undefined> {
  const { server, uids, workspaceRoot, log } = host
  const { language, code, files, ...options } = request
  const home = await uids?.allocate()
  let workspace: HostWorkspace | undefined
  try {
    workspace = await HostWorkspace.open(workspaceRoot, `run-${randomUUID()}`, undefined)
    if (home) await workspace.own(home.owner)
    await writeInlineFiles(workspace, files)
    const cwd = workspace.dir
    const run = await executeRun(server.settings, { code, cwd, home: home?.home ?? null }, options)
    if ('result' in run) return run.result
    log.info({ language, reason: run.unavailable }, 'one-shot run falls back to a kernel')
    return undefined
  } finally {
    // Every process of the run's uid is gone before its files are removed.
    try {
      if (home) await uids?.release(home.owner)
    } finally {
      await workspace?.close()
    }
  }
}
