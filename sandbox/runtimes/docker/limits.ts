import type { AppliedLimits, ContextLimits } from '../../api.js'
import { SandboxError } from '../../errors.js'
import type { DockerConfig } from './config.js'

/** A context's resource limits, and whether a warm container can take them. */
export type LimitsPlan = {
  applied: AppliedLimits
  /**
   * False when a warm container cannot take them: another network or /workspace size, or under
   * gVisor any other memory, CPUs or pids.
   */
  poolable: boolean
}

/**
 * Checks a create request's limits against the maxima; fills the rest from the defaults.
 * @throws SandboxError INVALID_PARAMS naming the limit and the setting that caps it
 */
export function planLimits(config: DockerConfig, requested: ContextLimits | undefined): LimitsPlan {
  const { defaults, max, networks } = config
  const applied: AppliedLimits = {
    memory_mb: requested?.memory_mb ?? defaults.memoryMb,
    cpus: requested?.cpus ?? defaults.cpus,
    pids: requested?.pids ?? defaults.pids,
    workspace_mb: requested?.workspace_mb ?? defaults.workspaceMb,
    network: requested?.network ?? defaults.network,
  }
  const over = (field: string, value: number, limit: number, variable: string) =>
    new SandboxError(
      'INVALID_PARAMS',
      `limits.${field} ${value} is above the maximum of ${limit} (${variable})`,
    )
  if (applied.memory_mb > max.memoryMb)
    throw over('memory_mb', applied.memory_mb, max.memoryMb, 'SANDBOX_DOCKER_MAX_MEMORY_MB')
  if (applied.cpus > max.cpus) throw over('cpus', applied.cpus, max.cpus, 'SANDBOX_DOCKER_MAX_CPUS')
  if (applied.pids > max.pids) throw over('pids', applied.pids, max.pids, 'SANDBOX_DOCKER_MAX_PIDS')
  if (applied.workspace_mb > max.workspaceMb)
    throw over(
      'workspace_mb',
      applied.workspace_mb,
      max.workspaceMb,
      'SANDBOX_DOCKER_MAX_WORKSPACE_MB',
    )
  if (!networks.includes(applied.network)) {
    throw new SandboxError(
      'INVALID_PARAMS',
      `limits.network ${JSON.stringify(applied.network)} is not allowed; allowed: ${networks.join(', ')} (SANDBOX_DOCKER_ALLOWED_NETWORKS)`,
    )
  }
  // Memory, CPUs and pids can be changed on a warm container (not under gVisor: runsc has no
  // `update`); its network and tmpfs cannot.
  const resourcesAsWarm =
    config.ociRuntime === 'runc' ||
    (applied.memory_mb === defaults.memoryMb &&
      applied.cpus === defaults.cpus &&
      applied.pids === defaults.pids)
  const poolable =
    resourcesAsWarm &&
    applied.network === defaults.network &&
    applied.workspace_mb === defaults.workspaceMb
  return { applied, poolable }
}
