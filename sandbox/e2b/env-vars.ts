// `env_vars` of an E2B execute: set in the kernel for the one cell, removed after, as E2B's server
// does; each in its own execute, so the user's cell runs unchanged (its line numbers too).
import type { ExecutionResult, Language } from '../api.js'
import type { ContextService } from '../contexts.js'

type Cell = {
  contexts: ContextService
  id: string
  language: Language
  env: Record<string, string> | null | undefined
  signal: AbortSignal
}

/** What sets and what removes variables, per language; values travel as JSON literals. */
const SNIPPETS: Record<
  Language,
  { set: (json: string) => string; unset: (json: string) => string }
> = {
  python: {
    set: (env) => `__import__('os').environ.update(__import__('json').loads(${env}))`,
    unset: (keys) =>
      `None if [__import__('os').environ.pop(k, None) for k in __import__('json').loads(${keys})] else None`,
  },
  javascript: {
    set: (env) => `Object.assign(globalThis.process.env, JSON.parse(${env}));`,
    unset: (keys) => `for (const k of JSON.parse(${keys})) delete globalThis.process.env[k];`,
  },
  typescript: {
    set: (env) => `Object.assign((globalThis as any).process.env, JSON.parse(${env}));`,
    unset: (keys) =>
      `for (const k of JSON.parse(${keys})) delete (globalThis as any).process.env[k];`,
  },
}

/**
 * Runs `execute` with the cell's env_vars set in the kernel, and removes them after, whatever the
 * outcome. Without env_vars it is just `execute`.
 */
export async function withEnvVars(
  cell: Cell,
  execute: (options: Record<string, never>) => Promise<ExecutionResult>,
): Promise<ExecutionResult> {
  const env = cell.env ?? {}
  const keys = Object.keys(env)
  if (keys.length === 0) return execute({})
  const snippets = SNIPPETS[cell.language]
  // A JSON string literal is also a valid Python and JavaScript string literal.
  const literal = (value: unknown) => JSON.stringify(JSON.stringify(value))
  const hidden = (code: string) => cell.contexts.execute(cell.id, { code }, { signal: cell.signal })
  await hidden(snippets.set(literal(env)))
  try {
    return await execute({})
  } finally {
    await hidden(snippets.unset(literal(keys))).catch(() => undefined)
  }
}
