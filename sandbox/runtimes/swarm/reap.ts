import type { Logger } from 'pino'
import { LABEL_INSTANCE } from '../docker/labels.js'
import type { ServiceSummary, SwarmEngine } from './engine.js'
import { instanceFilter, scopeFilter } from './labels.js'

/**
 * Removes services of a scope, and then the scope's secrets that no remaining service mounts.
 * @param keep - services to leave alone (this instance's, or the contexts it adopted)
 * @param only - restrict to one instance's services (at close)
 * @returns the services removed
 */
export async function reapServices(options: {
  engine: SwarmEngine
  scope: string
  keep: (service: ServiceSummary) => boolean
  only?: string
  log: Logger
}): Promise<ServiceSummary[]> {
  const { engine, scope, keep, only, log } = options
  const found = await engine.services(only ? instanceFilter(scope, only) : scopeFilter(scope))
  const doomed = found.filter((service) => !keep(service))
  await Promise.allSettled(doomed.map((service) => engine.removeService(service.id)))
  const kept = new Set(found.filter(keep).flatMap((service) => service.secretIds))
  const filter = only ? instanceFilter(scope, only) : scopeFilter(scope)
  const secrets = (await engine.secrets(filter)).filter((id) => !kept.has(id))
  // A secret still counted as in use by a service being removed is left for the next reap.
  await Promise.allSettled(secrets.map((id) => engine.removeSecret(id)))
  if (doomed.length > 0) {
    log.warn(
      {
        scope,
        services: doomed.map((s) => s.name),
        owners: [...new Set(doomed.map((s) => s.labels[LABEL_INSTANCE]))],
      },
      only ? 'removed services of this instance' : 'removed services nobody owns',
    )
  }
  return doomed
}
