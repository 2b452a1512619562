import type { AppliedLimits } from '../../api.js'

const MIB = 1024 * 1024
/** The context's token, mounted from its Swarm secret (a tmpfs file on the task's node only). */
export const TOKEN_FILE = '/run/secrets/sci-token'
const WORKSPACE = '/workspace'

export type ServiceSpecOptions = {
  name: string
  image: string
  uid: number
  gid: number
  labels: Record<string, string>
  limits: AppliedLimits
  /** Reservations as fractions of the limits. */
  reserve: Readonly<{ memory: number; cpus: number }>
  networkId: string
  port: number
  secret: { id: string; name: string }
  constraints: readonly string[]
  spreadOver: readonly string[]
  /** `python3 -c` program that starts Jupyter Server (docker/assets/container_entry.py). */
  entrySource: string
  kernelSpecs: Record<string, unknown>
}

/**
 * The Swarm service of one context: one replica that never restarts (a context never silently
 * re-runs elsewhere), placed by Swarm's scheduler, hardened as the docker runtime's containers
 * (non-root, read-only root, tmpfs /workspace and /tmp, no capabilities, no privilege gain, pids
 * cap), with memory, CPU and pids limits and reservations, on the internal overlay only, with no
 * published port (endpoint mode dnsrr: no virtual IP either).
 *
 * Engines before API 1.44 have no `NoNewPrivileges` in a service spec and ignore it: set
 * `"no-new-privileges": true` in the nodes' daemon.json (the image has no setuid programs either).
 */
export function serviceSpec(o: ServiceSpecOptions): object {
  const memoryBytes = o.limits.memory_mb * MIB
  const nanoCpus = Math.round(o.limits.cpus * 1e9)
  return {
    Name: o.name,
    Labels: o.labels,
    TaskTemplate: {
      ContainerSpec: {
        Image: o.image,
        Labels: o.labels,
        // tini reaps what user code forks and forwards signals; the image's entrypoint is not used.
        Command: ['tini', '--'],
        Args: ['/usr/bin/python3', '-c', o.entrySource],
        Env: [
          'PATH=/usr/local/bin:/usr/bin:/bin',
          'LANG=C.UTF-8',
          'HOME=/tmp/home',
          'MPLBACKEND=module://matplotlib_inline.backend_inline',
          'MPLCONFIGDIR=/tmp/home/.matplotlib',
          `SCI_PORT=${o.port}`,
          `SCI_TOKEN_FILE=${TOKEN_FILE}`,
          `SCI_KERNELSPECS=${JSON.stringify(o.kernelSpecs)}`,
        ],
        Dir: WORKSPACE,
        User: `${o.uid}:${o.gid}`,
        ReadOnly: true,
        CapabilityDrop: ['ALL'],
        Privileges: { NoNewPrivileges: true },
        // The image's HEALTHCHECK probes the service's port, which does not run here.
        Healthcheck: { Test: ['NONE'] },
        StopGracePeriod: 1_000_000_000,
        // Tmpfs mounts of services (before API 1.46) take no owner and are noexec. runc gives the
        // tmpfs the mode of the image's directory: Dockerfile.sandbox makes /workspace 1777.
        // (Anonymous tmpfs volumes of the local driver would take uid= and exec, but Swarm
        // leaves them behind on the node, one per task.)
        Mounts: [
          {
            Type: 'tmpfs',
            Target: WORKSPACE,
            TmpfsOptions: { SizeBytes: o.limits.workspace_mb * MIB, Mode: 0o1777 },
          },
          { Type: 'tmpfs', Target: '/tmp', TmpfsOptions: { SizeBytes: 64 * MIB, Mode: 0o1777 } },
        ],
        Secrets: [
          {
            File: { Name: 'sci-token', UID: String(o.uid), GID: String(o.gid), Mode: 0o400 },
            SecretID: o.secret.id,
            SecretName: o.secret.name,
          },
        ],
      },
      Resources: {
        Limits: { MemoryBytes: memoryBytes, NanoCPUs: nanoCpus, Pids: o.limits.pids },
        Reservations: {
          MemoryBytes: Math.floor(memoryBytes * o.reserve.memory),
          NanoCPUs: Math.floor(nanoCpus * o.reserve.cpus),
        },
      },
      RestartPolicy: { Condition: 'none', MaxAttempts: 0 },
      Placement: {
        Constraints: [...o.constraints],
        Preferences: o.spreadOver.map((descriptor) => ({
          Spread: { SpreadDescriptor: descriptor },
        })),
      },
      Networks: [{ Target: o.networkId }],
      // What a kernel writes to its own stderr ends up here: keep it from filling a node's disk.
      LogDriver: { Name: 'json-file', Options: { 'max-size': '1m', 'max-file': '1' } },
    },
    Mode: { Replicated: { Replicas: 1 } },
    EndpointSpec: { Mode: 'dnsrr' },
  }
}

/** Task states after which a task never runs again. */
const FINAL_STATES = new Set(['complete', 'shutdown', 'failed', 'rejected', 'orphaned', 'remove'])

/** True for a task state from which the task will never be running. */
export function isFinal(state: string): boolean {
  return FINAL_STATES.has(state)
}

/** The task's address on the network (`10.0.1.5/24` → `10.0.1.5`), once it has one. */
export function addressOn(
  task: { NetworksAttachments?: { Network: { ID: string }; Addresses?: string[] }[] },
  networkId: string,
): string | undefined {
  const attachment = task.NetworksAttachments?.find((a) => a.Network.ID === networkId)
  return attachment?.Addresses?.[0]?.split('/')[0]
}
