/**
 * The swarm runtime's pure parts: its settings, the service spec of a context, the labels a
 * restarted service reads back, when a placed service counts as lost, and context tokens.
 */
import { describe, expect, it } from 'vitest'
import { loadConfig } from '../../sandbox/config.js'
import { orphanOf } from '../../sandbox/runtimes/swarm/adopt.js'
import type { ServiceSummary, SwarmNode, Task } from '../../sandbox/runtimes/swarm/engine.js'
import { contextLabels, recordOf, serviceLabels } from '../../sandbox/runtimes/swarm/labels.js'
import { openEnv, sealEnv } from '../../sandbox/runtimes/swarm/sealed-env.js'
import { tokenFor } from '../../sandbox/runtimes/swarm/setup.js'
import { addressOn, serviceSpec } from '../../sandbox/runtimes/swarm/spec.js'
import { lostBecause } from '../../sandbox/runtimes/swarm/watch.js'

const limits = { memory_mb: 512, cpus: 1, pids: 256, workspace_mb: 256, network: 'sci-kernels' }

describe('swarm settings', () => {
  it('defaults: network sci-kernels, Swarm spread, unencrypted allowed', () => {
    const { swarm } = loadConfig({})
    expect(swarm).toMatchObject({
      network: 'sci-kernels',
      requireEncrypted: false,
      constraints: [],
      spreadOver: [],
      port: 8888,
      pendingTimeoutMs: 20_000,
    })
  })

  it('parses constraints and spread preferences; refuses other preferences by name', () => {
    const { swarm } = loadConfig({
      SANDBOX_SWARM_CONSTRAINTS: 'node.role==worker, node.labels.sci==1',
      SANDBOX_SWARM_PREFERENCES: 'spread=node.labels.zone',
    })
    expect(swarm.constraints).toEqual(['node.role==worker', 'node.labels.sci==1'])
    expect(swarm.spreadOver).toEqual(['node.labels.zone'])
    expect(() => loadConfig({ SANDBOX_SWARM_PREFERENCES: 'pack' })).toThrow(
      /SANDBOX_SWARM_PREFERENCES/,
    )
    expect(() => loadConfig({ SANDBOX_SWARM_TOKEN_KEY: 'short' })).toThrow(/32/)
  })
})

describe('service spec of a context', () => {
  const spec = serviceSpec({
    name: 'sci-abc-1',
    image: 'registry:5000/sandbox:latest',
    uid: 10001,
    gid: 10001,
    labels: { 'sci.scope': 'default' },
    limits,
    reserve: { memory: 0.5, cpus: 0.05 },
    networkId: 'net1',
    port: 8888,
    secret: { id: 'sec1', name: 'sci-abc-1-token' },
    constraints: ['node.role==worker'],
    spreadOver: ['node.labels.zone'],
    entrySource: 'print(1)',
    kernelSpecs: {},
  }) as {
    TaskTemplate: {
      ContainerSpec: {
        Mounts: { Type: string; Target: string; TmpfsOptions: { SizeBytes: number } }[]
        Secrets: unknown
        Env: string[]
      }
      Resources: unknown
      RestartPolicy: unknown
      Placement: unknown
      Networks: unknown
    }
    Mode: unknown
    EndpointSpec: unknown
  }
  const { ContainerSpec, Resources, RestartPolicy, Placement, Networks } = spec.TaskTemplate

  it('one replica that never restarts, no published port, no virtual IP', () => {
    expect(spec.Mode).toEqual({ Replicated: { Replicas: 1 } })
    expect(RestartPolicy).toEqual({ Condition: 'none', MaxAttempts: 0 })
    expect(spec.EndpointSpec).toEqual({ Mode: 'dnsrr' })
    expect(Networks).toEqual([{ Target: 'net1' }])
  })

  it('hardened as the docker runtime: non-root, read-only, no capabilities, tmpfs', () => {
    expect(ContainerSpec).toMatchObject({
      User: '10001:10001',
      ReadOnly: true,
      CapabilityDrop: ['ALL'],
      Privileges: { NoNewPrivileges: true },
    })
    expect(ContainerSpec.Mounts.map((m) => [m.Type, m.Target])).toEqual([
      ['tmpfs', '/workspace'],
      ['tmpfs', '/tmp'],
    ])
    expect(ContainerSpec.Mounts[0]?.TmpfsOptions.SizeBytes).toBe(256 * 2 ** 20)
  })

  it('the token comes from a secret, never the environment', () => {
    expect(ContainerSpec.Secrets).toEqual([
      {
        File: { Name: 'sci-token', UID: '10001', GID: '10001', Mode: 0o400 },
        SecretID: 'sec1',
        SecretName: 'sci-abc-1-token',
      },
    ])
    expect(ContainerSpec.Env.join('\n')).not.toMatch(/TOKEN=(?!\/run\/secrets)/)
  })

  it('limits as limits, reservations as fractions of them, placement as configured', () => {
    expect(Resources).toEqual({
      Limits: { MemoryBytes: 512 * 2 ** 20, NanoCPUs: 1e9, Pids: 256 },
      Reservations: { MemoryBytes: 256 * 2 ** 20, NanoCPUs: 5e7 },
    })
    expect(Placement).toEqual({
      Constraints: ['node.role==worker'],
      Preferences: [{ Spread: { SpreadDescriptor: 'node.labels.zone' } }],
    })
  })
})

describe('labels', () => {
  it('a context record survives the round trip through labels; pool services have none', () => {
    const pool = serviceLabels({ scope: 's', instance: 'i1', language: 'python' })
    expect(recordOf(pool)).toBeUndefined()
    const record = {
      id: 'ctx-1',
      name: 'n',
      description: 'd',
      createdAt: '2026-11-30T00:00:00.000Z',
      base: 'sub',
      limits,
    }
    expect(recordOf({ ...pool, ...contextLabels('i2', record) })).toEqual(record)
    expect(
      recordOf({ ...pool, ...contextLabels('i2', record), 'sci.context': 'ctx-2' }),
    ).toBeUndefined()
  })
})

describe('when a placed service is lost', () => {
  const node = (state: string, availability = 'active'): SwarmNode => ({
    ID: 'n1',
    Description: { Hostname: 'worker-1' },
    Status: { State: state },
    Spec: { Availability: availability, Role: 'worker' },
  })
  const task = (state: string, desired = 'running'): Task => ({
    ID: 't1',
    ServiceID: 's1',
    NodeID: 'n1',
    DesiredState: desired,
    Status: { State: state },
    NetworksAttachments: [{ Network: { ID: 'net1' }, Addresses: ['10.0.1.5/24'] }],
  })
  const nodes = (n: SwarmNode) => new Map([[n.ID, n]])

  it('running on a ready node: not lost', () => {
    expect(lostBecause(task('running'), nodes(node('ready')), 'n1')).toBeUndefined()
  })

  it('node down, drained or gone; task ended or being shut down; service removed: lost', () => {
    expect(lostBecause(task('running'), nodes(node('down')), 'n1')).toMatch(/worker-1 is down/)
    expect(lostBecause(task('running'), nodes(node('ready', 'drain')), 'n1')).toMatch(/drained/)
    expect(lostBecause(task('running'), new Map(), 'n1')).toMatch(/left the swarm/)
    expect(lostBecause(task('failed'), nodes(node('ready')), 'n1')).toMatch(/failed/)
    expect(lostBecause(task('running', 'shutdown'), nodes(node('ready')), 'n1')).toMatch(/shutting/)
    expect(lostBecause(undefined, nodes(node('ready')), 'n1')).toMatch(/service is gone/)
  })

  it("reads the task's overlay address", () => {
    expect(addressOn(task('running'), 'net1')).toBe('10.0.1.5')
    expect(addressOn(task('running'), 'other')).toBeUndefined()
  })
})

describe('context tokens', () => {
  it('derived from SANDBOX_SWARM_TOKEN_KEY per service, else random', () => {
    const key = 'k'.repeat(32)
    expect(tokenFor(key, 'sci-a')).toBe(tokenFor(key, 'sci-a'))
    expect(tokenFor(key, 'sci-a')).not.toBe(tokenFor(key, 'sci-b'))
    expect(tokenFor(undefined, 'sci-a')).not.toBe(tokenFor(undefined, 'sci-a'))
    expect(tokenFor(undefined, 'sci-a').length).toBeGreaterThanOrEqual(32)
  })
})

describe('a context env sealed into a label', () => {
  const key = 'k'.repeat(32)
  const env = { OPENAI_API_KEY: 'sk-secret', EMPTY: '' }

  it('opens with the same key and service only, and shows nothing of the env', () => {
    const sealed = sealEnv(key, 'sci-a', env)
    expect(sealed).not.toContain('sk-secret')
    expect(sealEnv(key, 'sci-a', env)).not.toBe(sealed)
    expect(openEnv(key, 'sci-a', sealed)).toEqual(env)
    expect(openEnv('j'.repeat(32), 'sci-a', sealed)).toBeUndefined()
    expect(openEnv(key, 'sci-b', sealed)).toBeUndefined()
  })

  it('refuses a label that was changed or is not one', () => {
    const [iv, tag, body] = sealEnv(key, 'sci-a', env).split('.') as [string, string, string]
    const flipped = `${body[0] === 'A' ? 'B' : 'A'}${body.slice(1)}`
    expect(openEnv(key, 'sci-a', [iv, tag, flipped].join('.'))).toBeUndefined()
    for (const label of ['', 'x', 'a.b.c', '{"A":"1"}']) {
      expect(openEnv(key, 'sci-a', label)).toBeUndefined()
    }
  })

  it('an adoptable service: record, language and env; not with another key', () => {
    const record = {
      id: 'ctx-1',
      name: 'n',
      description: 'd',
      createdAt: '2026-11-30T00:00:00.000Z',
      base: '',
      limits,
    }
    const labels = {
      ...serviceLabels({ scope: 's', instance: 'i1', language: 'javascript' }),
      ...contextLabels('i1', record, sealEnv(key, 'sci-a', env)),
    }
    const found = { id: 'id-a', name: 'sci-a', labels } as ServiceSummary
    expect(orphanOf(found, key)).toEqual({ record, language: 'javascript', env })
    expect(orphanOf(found, 'j'.repeat(32))).toBeUndefined()
    // A service labelled before env was sealed into labels: adopted with no env.
    const unsealed = Object.fromEntries(Object.entries(labels).filter(([k]) => k !== 'sci.env'))
    expect(orphanOf({ ...found, labels: unsealed }, key)?.env).toEqual({})
  })
})
