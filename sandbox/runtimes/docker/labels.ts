import type { Language } from '../../api.js'

/**
 * Labels on every container the docker runtime creates. They are how the service finds its own
 * containers again: the ones of this instance at shutdown, and the ones a crashed earlier instance
 * of the same scope left behind, at startup. The image's own labels (`sci.project`) are shared with
 * the compose stack, so nothing here relies on them.
 */
export const LABEL_MANAGED = 'sci.managed'
/** Which runtime made the container; only the docker runtime's containers are ever removed. */
export const LABEL_RUNTIME = 'sci.runtime'
/** The deployment: services sharing one Docker engine must use distinct scopes (SANDBOX_DOCKER_SCOPE). */
export const LABEL_SCOPE = 'sci.scope'
/** The service process that owns the container; any other instance of the scope is a dead one. */
export const LABEL_INSTANCE = 'sci.instance'
export const LABEL_LANGUAGE = 'sci.language'

export const MANAGED_VALUE = '1'
export const RUNTIME_VALUE = 'docker-kernel'

/** The labels of a new kernel container (or, with `runtime`, another runtime's kernel service). */
export function createLabels(options: {
  scope: string
  instance: string
  language: Language
  runtime?: string
}): Record<string, string> {
  return {
    [LABEL_MANAGED]: MANAGED_VALUE,
    [LABEL_RUNTIME]: options.runtime ?? RUNTIME_VALUE,
    [LABEL_SCOPE]: options.scope,
    [LABEL_INSTANCE]: options.instance,
    [LABEL_LANGUAGE]: options.language,
  }
}

/** Docker `label` filters matching every kernel container (or `runtime`'s service) of a scope. */
export function scopeFilter(scope: string, runtime = RUNTIME_VALUE): string[] {
  return [
    `${LABEL_MANAGED}=${MANAGED_VALUE}`,
    `${LABEL_RUNTIME}=${runtime}`,
    `${LABEL_SCOPE}=${scope}`,
  ]
}

/** Docker `label` filters matching the kernel containers (or services) of one service instance. */
export function instanceFilter(scope: string, instance: string, runtime = RUNTIME_VALUE): string[] {
  return [...scopeFilter(scope, runtime), `${LABEL_INSTANCE}=${instance}`]
}
