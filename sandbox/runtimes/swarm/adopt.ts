import type { Logger } from 'pino'
import type { Language } from '../../api.js'
import { JupyterKernel } from '../../jupyter/kernel.js'
import { LABEL_LANGUAGE } from '../docker/labels.js'
import type { ServiceSummary, SwarmEngine } from './engine.js'
import { type ContextRecord, LABEL_ENV, recordOf } from './labels.js'
import { openEnv } from './sealed-env.js'
import type { KernelService } from './service.js'

/** What a dead instance's context service says of its context, read from its labels. */
export type Orphan = {
  record: ContextRecord
  language: Language
  env: Record<string, string>
}

/**
 * The context of a service a dead instance of the scope left, when it can be adopted: its record
 * and language, and its env opened with this instance's token key (the same key, or nothing).
 */
export function orphanOf(service: ServiceSummary, tokenKey: string): Orphan | undefined {
  const record = recordOf(service.labels)
  const language = service.labels[LABEL_LANGUAGE] as Language | undefined
  const sealed = service.labels[LABEL_ENV]
  const env = sealed === undefined ? {} : openEnv(tokenKey, service.name, sealed)
  return record && language && env ? { record, language, env } : undefined
}

/**
 * Reconnects `service` (tracked, not yet started) to the running task and kernel of `found`:
 * the kernel as it is, with its state.
 * @throws when its task is not running or its Jupyter Server has no kernel
 */
export async function reconnect(options: {
  engine: SwarmEngine
  service: KernelService
  found: ServiceSummary
  language: Language
  timeoutMs: number
  log: Logger
}): Promise<JupyterKernel> {
  const { engine, service, found, language, log } = options
  const [task] = await engine.tasks({ service: [found.id], 'desired-state': ['running'] })
  if (task?.Status.State !== 'running') throw new Error('its task is not running')
  service.adopt(found, task)
  const signal = AbortSignal.timeout(options.timeoutMs)
  const response = await service.client.fetch('/api/kernels', { signal })
  const [model] = (await response.json()) as { id: string }[]
  if (response.status !== 200 || !model) throw new Error(`no kernel (${response.status})`)
  service.kernel = await JupyterKernel.connect({
    language,
    id: model.id,
    settings: service.client.settings(),
    log: log.child({ service: found.name }),
    signal,
  })
  return service.kernel
}
