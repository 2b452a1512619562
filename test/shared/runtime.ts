/**
 * What a shared suite (test/shared/*.suite.ts) needs of a runtime: how to start a sandbox on it,
 * whether it can run here, and where it puts working dirs. The process runtime's target is here;
 * the docker runtime's is in test/docker/helpers.ts, which checks for an engine when imported.
 */
import type { Config } from '../../sandbox/config.js'
import { loadConfig } from '../../sandbox/config.js'
import { type RunningSandbox, startSandbox } from '../helpers/sandbox.js'

export type RuntimeTarget = {
  name: 'process' | 'docker'
  /** True when the runtime cannot run here; its helpers have said why, loudly. */
  skip: boolean
  /**
   * Starts a real sandbox on this runtime, its warm pool filled; `close()` also removes whatever
   * the runtime left behind.
   */
  start: (overrides?: Partial<Config>) => Promise<RunningSandbox>
  /** Where a relative `working_dir` lands, as the kernel sees it. */
  workspaceRoot: string
}

/** Kernels as children of one Jupyter Server in the service's own process tree. */
export const processRuntime: RuntimeTarget = {
  name: 'process',
  skip: false,
  start: (overrides = {}) => startSandbox(overrides),
  workspaceRoot: loadConfig({}).workspaceRoot,
}

/**
 * Runs code in a context: the result on 200, otherwise the error body with its status.
 * @param timeout - seconds; the service default when undefined
 */
export async function exec(
  s: RunningSandbox,
  id: string,
  code: string,
  timeout?: number,
  // biome-ignore lint/suspicious/noExplicitAny: tests read loosely-typed JSON bodies
): Promise<any> {
  const { status, body } = await s.api('POST', `/api/v1/contexts/${id}/execute`, {
    code,
    ...(timeout ? { timeout } : {}),
  })
  return status === 200 ? body : { status, ...body }
}

/** Creates a context and returns its id; throws unless the service answers 201. */
export async function createContext(
  s: RunningSandbox,
  body: Record<string, unknown> = {},
): Promise<string> {
  const { status, body: context } = await s.api('POST', '/api/v1/contexts', body)
  if (status !== 201) throw new Error(`create failed: ${status} ${JSON.stringify(context)}`)
  return context.context_id
}
