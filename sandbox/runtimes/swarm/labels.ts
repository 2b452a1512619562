import type { AppliedLimits, Language } from '../../api.js'
import {
  createLabels,
  instanceFilter as dockerInstanceFilter,
  scopeFilter as dockerScopeFilter,
  LABEL_INSTANCE,
} from '../docker/labels.js'

/**
 * Labels on every service (and its secret) the swarm runtime creates: the docker runtime's keys
 * (managed, runtime, scope, owning instance, language), plus what a restarted service needs to
 * take a live context over: whether it is a pool's or a context's, and the context's record.
 */
export const RUNTIME_VALUE = 'swarm-kernel'
/** `pool` while the service waits in the warm pool, `context` once bound. */
export const LABEL_ROLE = 'sci.role'
export const LABEL_CONTEXT = 'sci.context'
/** The context's record as JSON (ContextRecord): name, description, created_at, working dir. */
export const LABEL_RECORD = 'sci.record'
/** The context's env, sealed (sealed-env.ts); only with a token key, which adoption needs. */
export const LABEL_ENV = 'sci.env'

export type Role = 'pool' | 'context'

/** What a context's service carries of the context, so that another instance can adopt it. */
export type ContextRecord = {
  id: string
  name: string
  description: string
  sessionName?: string
  createdAt: string
  /** The working dir relative to /workspace ('' for the root). */
  base: string
  limits: AppliedLimits
}

/** The labels of a new service (role `pool`, or `context` for a fresh one with its own limits). */
export function serviceLabels(options: {
  scope: string
  instance: string
  language: Language
}): Record<string, string> {
  return { ...createLabels({ ...options, runtime: RUNTIME_VALUE }), [LABEL_ROLE]: 'pool' }
}

/** The labels that make a service a context's (merged into its labels when bound or adopted). */
export function contextLabels(
  instance: string,
  record: ContextRecord,
  sealedEnv?: string,
): Record<string, string> {
  return {
    [LABEL_INSTANCE]: instance,
    [LABEL_ROLE]: 'context',
    [LABEL_CONTEXT]: record.id,
    [LABEL_RECORD]: JSON.stringify(record),
    ...(sealedEnv ? { [LABEL_ENV]: sealedEnv } : {}),
  }
}

/** The context record of a context's labels, or undefined when absent or unreadable. */
export function recordOf(labels: Record<string, string>): ContextRecord | undefined {
  if (labels[LABEL_ROLE] !== 'context') return undefined
  try {
    const record = JSON.parse(labels[LABEL_RECORD] ?? '') as Partial<ContextRecord>
    if (
      typeof record.id !== 'string' ||
      record.id !== labels[LABEL_CONTEXT] ||
      typeof record.name !== 'string' ||
      typeof record.description !== 'string' ||
      typeof record.createdAt !== 'string' ||
      typeof record.base !== 'string' ||
      typeof record.limits !== 'object'
    )
      return undefined
    return record as ContextRecord
  } catch {
    return undefined
  }
}

/** Engine `label` filters of every service of a scope. */
export function scopeFilter(scope: string): string[] {
  return dockerScopeFilter(scope, RUNTIME_VALUE)
}

/** Engine `label` filters of one instance's services. */
export function instanceFilter(scope: string, instance: string): string[] {
  return dockerInstanceFilter(scope, instance, RUNTIME_VALUE)
}
