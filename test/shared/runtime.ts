/**
 * What a shared suite (test/shared/*.suite.ts) needs of a runtime: how to start a sandbox on it,
 * whether it can run here, and where it puts working dirs. The process runtime's target is here;
 * the docker runtime's is in test/docker/helpers.ts, which checks for an engine when imported.
 */
import type { ExecutionResult } from '../../sandbox/api.js'
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
 * Runs code in a context through the typed client; a refusal of the sandbox is thrown as a
 * SandboxApiError.
 * @param timeout - seconds; the service default when undefined
 */
export function exec(
  s: RunningSandbox,
  id: string,
  code: string,
  timeout?: number,
): Promise<ExecutionResult> {
  return s.client.execute(id, { code, ...(timeout ? { timeout } : {}) })
}

/** Creates a context and returns its id; throws (a SandboxApiError) unless the service creates it. */
export async function createContext(
  s: RunningSandbox,
  body: Parameters<RunningSandbox['client']['createContext']>[0] = {},
): Promise<string> {
  return (await s.client.createContext(body)).context_id
}
