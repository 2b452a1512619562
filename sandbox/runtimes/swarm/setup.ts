// What the swarm runtime checks and derives before it starts services: the network, the tokens.
import { createHmac, randomBytes } from 'node:crypto'
import { SandboxError } from '../../errors.js'
import type { SwarmConfig } from './config.js'
import type { NetworkSummary, SwarmEngine } from './engine.js'

/**
 * A context's Jupyter token: derived from SANDBOX_SWARM_TOKEN_KEY and the service's name when a key
 * is set (so a restarted service can reach the contexts it adopts), else random.
 */
export function tokenFor(key: string | undefined, serviceName: string): string {
  return key
    ? createHmac('sha256', key).update(serviceName).digest('hex')
    : randomBytes(24).toString('hex')
}

/**
 * The contexts' network, checked: an attachable, internal overlay (encrypted when required).
 * @throws SandboxError UNAVAILABLE saying how to create it
 */
export async function checkNetwork(
  engine: SwarmEngine,
  swarm: SwarmConfig,
): Promise<NetworkSummary> {
  const network = await engine.network(swarm.network)
  const fix = `create it with: docker network create -d overlay --attachable --internal [--opt encrypted] ${swarm.network} (SANDBOX_SWARM_NETWORK)`
  if (!network) throw new SandboxError('UNAVAILABLE', `No network ${swarm.network}; ${fix}`)
  if (network.driver !== 'overlay' || !network.attachable || !network.internal)
    throw new SandboxError(
      'UNAVAILABLE',
      `Network ${swarm.network} must be an attachable, internal overlay network (contexts must have no route out); ${fix}`,
    )
  if (swarm.requireEncrypted && !network.encrypted)
    throw new SandboxError(
      'UNAVAILABLE',
      `Network ${swarm.network} is not encrypted and SANDBOX_SWARM_REQUIRE_ENCRYPTED is set; ${fix}`,
    )
  return network
}
