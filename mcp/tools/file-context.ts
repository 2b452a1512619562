import { z } from 'zod'
import type { DefaultContexts } from '../default-contexts.js'

/** The `context_id` argument of the file tools. */
export const fileContextId = z
  .string()
  .optional()
  .describe(
    'Context whose files to use, from create_context, list_contexts or a run_code result. Omit for the default Python context: the one run_code uses without context_id and language',
  )

/**
 * Makes a file call on the given context or, when `contextId` is omitted, on the default Python
 * context, so that a model that never manages contexts writes files where run_code reads them.
 * @returns what `call` returned, and the id of the context it used
 */
export async function inFileContext<T>(
  defaults: DefaultContexts,
  contextId: string | undefined,
  call: (contextId: string) => Promise<T>,
): Promise<{ contextId: string; result: T }> {
  // Models often send "" for an argument they mean to omit.
  if (contextId) return { contextId, result: await call(contextId) }
  return defaults.use('python', call)
}
