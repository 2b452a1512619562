import os from 'node:os'
import path from 'node:path'
import { z } from 'zod'

const positive = (fallback: number) => z.coerce.number().positive().default(fallback)
const whole = (fallback: number) => z.coerce.number().int().positive().default(fallback)

/**
 * Settings of the "docker" runtime (SANDBOX_RUNTIME=docker): one container per context. Parsed
 * by config.ts from the same environment; read nowhere else.
 */
export const DockerEnvSchema = z.object({
  /** The engine: unix:///path/to/docker.sock or tcp://host:port (no TLS). */
  DOCKER_HOST: z
    .string()
    .regex(/^(unix|tcp|http):\/\//, 'must be unix:///path or tcp://host:port')
    .default('unix:///var/run/docker.sock'),
  /** Image of the context containers; never pulled. Built by scripts/test-docker.sh or compose. */
  SANDBOX_DOCKER_IMAGE: z.string().min(1).default('sandbox-code-interpreter/sandbox:latest'),
  /**
   * Names this deployment on the engine. At startup, containers of the same scope left by an
   * earlier (crashed) instance are removed: services sharing one engine need distinct scopes.
   */
  SANDBOX_DOCKER_SCOPE: z
    .string()
    .regex(/^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,39}$/, 'letters, digits, _ . - (at most 40)')
    .default('default'),
  /**
   * OCI runtime of the context containers: "runc" (Docker's default) or "runsc" (gVisor: each
   * container gets a kernel of its own in user space, so a host-kernel exploit does not escape).
   * runsc must be a runtime of the engine (scripts/gvisor.sh sets it up); the service checks at
   * startup. Under runsc the service reaches each container's Jupyter over `docker exec`.
   */
  SANDBOX_DOCKER_OCI_RUNTIME: z.enum(['runc', 'runsc']).default('runc'),
  /** Non-root user:group the container's Jupyter Server and kernels run as. */
  SANDBOX_DOCKER_USER: z
    .string()
    .regex(/^[1-9][0-9]*:[1-9][0-9]*$/, 'numeric uid:gid, not root')
    .default('10001:10001'),
  /** Where the service makes each container's directory holding its Jupyter socket. */
  SANDBOX_DOCKER_SOCKET_DIR: z.string().min(1).default(path.join(os.tmpdir(), 'sci-docker')),
  /**
   * The same directory as the Docker engine sees it. Default: the same path, or, when the service
   * itself runs in a container, the source of the volume or bind mount that holds it.
   */
  SANDBOX_DOCKER_SOCKET_HOST_DIR: z.string().min(1).optional(),
  /** Per-context defaults, and the largest values a create request may ask for in `limits`. */
  SANDBOX_DOCKER_MEMORY_MB: whole(512),
  SANDBOX_DOCKER_MAX_MEMORY_MB: whole(4096),
  SANDBOX_DOCKER_CPUS: positive(1),
  SANDBOX_DOCKER_MAX_CPUS: positive(2),
  /** Processes and threads (Jupyter Server and a kernel use about 20). */
  SANDBOX_DOCKER_PIDS: whole(256),
  SANDBOX_DOCKER_MAX_PIDS: whole(1024),
  /** Size of the context's /workspace (a tmpfs; its pages count towards the memory limit). */
  SANDBOX_DOCKER_WORKSPACE_MB: whole(256),
  SANDBOX_DOCKER_MAX_WORKSPACE_MB: whole(2048),
  /** Network of context containers: "none" (no egress at all), or a Docker network's name. */
  SANDBOX_DOCKER_NETWORK: z.string().min(1).default('none'),
  /** Comma-separated networks a create request may ask for besides the default one. */
  SANDBOX_DOCKER_ALLOWED_NETWORKS: z.string().default(''),
})

export type DockerLimits = Readonly<{
  memoryMb: number
  cpus: number
  pids: number
  workspaceMb: number
}>

export type DockerConfig = Readonly<{
  dockerHost: string
  image: string
  ociRuntime: 'runc' | 'runsc'
  scope: string
  uid: number
  gid: number
  socketDir: string
  socketHostDir: string | undefined
  defaults: DockerLimits & Readonly<{ network: string }>
  max: DockerLimits
  /** Networks a request may ask for, the default one included. */
  networks: readonly string[]
}>

/**
 * Builds the docker runtime's settings from the parsed environment.
 * @throws when a default is above its maximum, naming both variables
 */
export function dockerConfig(e: z.infer<typeof DockerEnvSchema>): DockerConfig {
  const [uid, gid] = e.SANDBOX_DOCKER_USER.split(':').map(Number) as [number, number]
  const pairs = [
    ['MEMORY_MB', e.SANDBOX_DOCKER_MEMORY_MB, e.SANDBOX_DOCKER_MAX_MEMORY_MB],
    ['CPUS', e.SANDBOX_DOCKER_CPUS, e.SANDBOX_DOCKER_MAX_CPUS],
    ['PIDS', e.SANDBOX_DOCKER_PIDS, e.SANDBOX_DOCKER_MAX_PIDS],
    ['WORKSPACE_MB', e.SANDBOX_DOCKER_WORKSPACE_MB, e.SANDBOX_DOCKER_MAX_WORKSPACE_MB],
  ] as const
  for (const [name, value, max] of pairs) {
    if (value > max)
      throw new Error(`SANDBOX_DOCKER_${name}=${value} is above SANDBOX_DOCKER_MAX_${name}=${max}`)
  }
  const allowed = e.SANDBOX_DOCKER_ALLOWED_NETWORKS.split(',')
    .map((name) => name.trim())
    .filter(Boolean)
  return Object.freeze({
    dockerHost: e.DOCKER_HOST,
    image: e.SANDBOX_DOCKER_IMAGE,
    ociRuntime: e.SANDBOX_DOCKER_OCI_RUNTIME,
    scope: e.SANDBOX_DOCKER_SCOPE,
    uid,
    gid,
    socketDir: path.resolve(e.SANDBOX_DOCKER_SOCKET_DIR),
    socketHostDir: e.SANDBOX_DOCKER_SOCKET_HOST_DIR,
    defaults: Object.freeze({
      memoryMb: e.SANDBOX_DOCKER_MEMORY_MB,
      cpus: e.SANDBOX_DOCKER_CPUS,
      pids: e.SANDBOX_DOCKER_PIDS,
      workspaceMb: e.SANDBOX_DOCKER_WORKSPACE_MB,
      network: e.SANDBOX_DOCKER_NETWORK,
    }),
    max: Object.freeze({
      memoryMb: e.SANDBOX_DOCKER_MAX_MEMORY_MB,
      cpus: e.SANDBOX_DOCKER_MAX_CPUS,
      pids: e.SANDBOX_DOCKER_MAX_PIDS,
      workspaceMb: e.SANDBOX_DOCKER_MAX_WORKSPACE_MB,
    }),
    networks: Object.freeze([...new Set([e.SANDBOX_DOCKER_NETWORK, ...allowed])]),
  })
}
