import { z } from 'zod'
import { commaList } from '../../common.js'

const fraction = (fallback: number) => z.coerce.number().min(0).max(1).default(fallback)
const flag = (fallback: '0' | '1') =>
  z
    .enum(['0', '1', 'false', 'true'])
    .default(fallback)
    .transform((value) => value === '1' || value === 'true')

/**
 * Settings of the "swarm" runtime (SANDBOX_RUNTIME=swarm): one Swarm service per context. The
 * engine (DOCKER_HOST, a manager's API), the image, the scope, the user and the per-context limits
 * are the docker runtime's settings (SANDBOX_DOCKER_*); these are what only a cluster has.
 */
export const SwarmEnvSchema = z.object({
  /**
   * The overlay network of the contexts: attachable, internal (no route out), encrypted where the
   * nodes' kernels have IPsec (ESP). The sandbox service must be attached to it: it reaches each
   * context's Jupyter Server there, on SANDBOX_SWARM_PORT.
   */
  SANDBOX_SWARM_NETWORK: z.string().min(1).default('sci-kernels'),
  /** Refuse to start unless the network is encrypted (`--opt encrypted`). */
  SANDBOX_SWARM_REQUIRE_ENCRYPTED: flag('0'),
  /** Placement constraints of context services, e.g. `node.role==worker,node.labels.sci==1`. */
  SANDBOX_SWARM_CONSTRAINTS: commaList,
  /**
   * Placement preferences, e.g. `spread=node.labels.zone`. Unset: Swarm's own scheduler spreads
   * tasks over the nodes that fit, fewest tasks first.
   */
  SANDBOX_SWARM_PREFERENCES: commaList,
  /** TCP port of each context's Jupyter Server on the overlay (never published). */
  SANDBOX_SWARM_PORT: z.coerce.number().int().min(1).max(65_535).default(8888),
  /**
   * Seconds a context's task may wait for a node ("pending": no node fits its reservations or
   * constraints) before the create fails with LIMIT_EXCEEDED and its service is removed.
   */
  SANDBOX_SWARM_PENDING_TIMEOUT: z.coerce.number().positive().default(20),
  /** Seconds between two looks at the tasks and nodes (how soon a dead node's contexts are lost). */
  SANDBOX_SWARM_POLL_INTERVAL: z.coerce.number().positive().default(1),
  /**
   * Reservations as fractions of the limits: what the scheduler sets aside on a node per context.
   * 1 = no overcommit; the CPU default lets many mostly idle kernels share a node.
   */
  SANDBOX_SWARM_RESERVE_MEMORY: fraction(0.5),
  SANDBOX_SWARM_RESERVE_CPUS: fraction(0.05),
  /**
   * Secret key from which each context's Jupyter token is derived. With it, a restarted service
   * (same scope and key) re-adopts the live contexts it finds; without it, tokens are random and
   * a dead instance's contexts are removed.
   */
  SANDBOX_SWARM_TOKEN_KEY: z.string().min(32, 'at least 32 characters').optional(),
})

export type SwarmConfig = Readonly<{
  network: string
  requireEncrypted: boolean
  constraints: readonly string[]
  /** Node labels or attributes to spread over (the part after `spread=`). */
  spreadOver: readonly string[]
  port: number
  pendingTimeoutMs: number
  pollIntervalMs: number
  reserve: Readonly<{ memory: number; cpus: number }>
  tokenKey: string | undefined
}>

/**
 * Builds the swarm runtime's settings from the parsed environment.
 * @throws when a preference is not `spread=<descriptor>`, naming the variable
 */
export function swarmConfig(e: z.infer<typeof SwarmEnvSchema>): SwarmConfig {
  const spreadOver = e.SANDBOX_SWARM_PREFERENCES.map((preference) => {
    const match = /^spread=(\S+)$/.exec(preference)
    if (!match)
      throw new Error(
        `SANDBOX_SWARM_PREFERENCES: ${JSON.stringify(preference)} is not spread=<node attribute or label>`,
      )
    return match[1] as string
  })
  return Object.freeze({
    network: e.SANDBOX_SWARM_NETWORK,
    requireEncrypted: e.SANDBOX_SWARM_REQUIRE_ENCRYPTED,
    constraints: Object.freeze(e.SANDBOX_SWARM_CONSTRAINTS),
    spreadOver: Object.freeze(spreadOver),
    port: e.SANDBOX_SWARM_PORT,
    pendingTimeoutMs: Math.round(e.SANDBOX_SWARM_PENDING_TIMEOUT * 1000),
    pollIntervalMs: Math.round(e.SANDBOX_SWARM_POLL_INTERVAL * 1000),
    reserve: Object.freeze({
      memory: e.SANDBOX_SWARM_RESERVE_MEMORY,
      cpus: e.SANDBOX_SWARM_RESERVE_CPUS,
    }),
    tokenKey: e.SANDBOX_SWARM_TOKEN_KEY,
  })
}
