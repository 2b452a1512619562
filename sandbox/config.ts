import os from 'node:os'
import path from 'node:path'
import { z } from 'zod'
import { commaList, LogLevel } from './common.js'
import { type DockerConfig, DockerEnvSchema, dockerConfig } from './runtimes/docker/config.js'
import { type SwarmConfig, SwarmEnvSchema, swarmConfig } from './runtimes/swarm/config.js'

const seconds = (fallback: number) => z.coerce.number().positive().default(fallback)
const count = (fallback: number) => z.coerce.number().int().min(0).default(fallback)
/** A TCP port; 0 or `off` turns the listener off. */
const optionalPort = (fallback: number) =>
  z
    .union([z.literal('off').transform(() => 0), z.coerce.number().int().min(0).max(65_535)])
    .default(fallback)

/** Environment variables the sandbox service reads, with defaults that work on a laptop. */
const EnvSchema = z.object({
  SANDBOX_HOST: z.string().min(1).default('127.0.0.1'),
  SANDBOX_PORT: z.coerce.number().int().min(0).max(65_535).default(8080),
  SANDBOX_API_KEY: z.string().min(1).optional(),
  /** E2B-compatible code interpreter (what E2B's SDK calls on 49999); 0 or off disables it. */
  SANDBOX_E2B_PORT: optionalPort(49_999),
  /** E2B-compatible envd (files and commands, Connect RPC); 0 or off disables it. */
  SANDBOX_ENVD_PORT: optionalPort(49_983),
  /** Host names served besides loopback ones (DNS rebinding protection); `*` serves any. */
  SANDBOX_ALLOWED_HOSTS: commaList,
  /** Default execute timeout when a request gives none. */
  SANDBOX_TIMEOUT: seconds(30),
  /** Largest timeout a request may ask for. */
  SANDBOX_MAX_TIMEOUT: seconds(600),
  /** How long an interrupted cell may take to go idle before the kernel is restarted. */
  SANDBOX_INTERRUPT_GRACE: seconds(2),
  SANDBOX_POOL_PYTHON: count(2),
  SANDBOX_POOL_JAVASCRIPT: count(1),
  SANDBOX_POOL_TYPESCRIPT: count(1),
  /** stdout + stderr + rich results kept per execution; the rest is cut and counted. */
  SANDBOX_MAX_OUTPUT_CHARS: count(1024 * 1024),
  SANDBOX_MAX_BODY_BYTES: count(10 * 1024 * 1024),
  SANDBOX_MAX_FILE_BYTES: count(100 * 1024 * 1024),
  SANDBOX_IDLE_TIMEOUT: seconds(3600),
  /** Per-kernel memory: address space of a Python kernel, V8 heap of a JS/TS kernel. 0 = no cap. */
  SANDBOX_KERNEL_MEMORY_MB: count(2048),
  SANDBOX_MAX_CONTEXTS: count(32),
  SANDBOX_WORKSPACE_ROOT: z.string().min(1).default(path.join(os.tmpdir(), 'sci-workspaces')),
  /** Python with Debian's ipykernel and jupyter-server; the first python3 on PATH may lack them. */
  SANDBOX_PYTHON: z.string().min(1).default('/usr/bin/python3'),
  /** Seconds allowed for the Jupyter Server to start and for one kernel to become ready. */
  SANDBOX_STARTUP_TIMEOUT: seconds(60),
  LOG_LEVEL: LogLevel.default('info'),
  /**
   * Python kernels of the process runtime forked from a warm template process (about 0.1 s of CPU
   * to ready instead of about 1 s); "0" starts each one as a new interpreter.
   */
  SANDBOX_KERNEL_TEMPLATE: z
    .enum(['0', '1', 'false', 'true'])
    .default('1')
    .transform((value) => value === '1' || value === 'true'),
  /**
   * Where kernels run: "process" (children of one Jupyter Server), "docker" (a container each) or
   * "swarm" (a Swarm service each, across a cluster's nodes).
   */
  SANDBOX_RUNTIME: z.enum(['process', 'docker', 'swarm']).default('process'),
})

export type Config = Readonly<{
  host: string
  port: number
  apiKey: string | undefined
  /** Port of the E2B-compatible code interpreter; 0 = off. */
  e2bPort: number
  /** Port of the E2B-compatible envd (files, commands); 0 = off. */
  envdPort: number
  allowedHosts: readonly string[]
  defaultTimeoutMs: number
  maxTimeoutMs: number
  interruptGraceMs: number
  poolSize: Readonly<Record<'python' | 'javascript' | 'typescript', number>>
  maxOutputChars: number
  maxBodyBytes: number
  maxFileBytes: number
  idleTimeoutMs: number
  kernelMemoryMb: number
  maxContexts: number
  workspaceRoot: string
  python: string
  startupTimeoutMs: number
  /** Python kernels forked from the kernel template (process runtime). */
  kernelTemplate: boolean
  logLevel: LogLevel
  runtime: 'process' | 'docker' | 'swarm'
  /** Settings of the docker runtime (SANDBOX_DOCKER_*), parsed whichever runtime is chosen. */
  docker: DockerConfig
  /** Settings of the swarm runtime (SANDBOX_SWARM_*; it also uses the docker runtime's). */
  swarm: SwarmConfig
}>

/**
 * Parses the sandbox configuration once. Invalid values throw with zod's message naming the variable.
 * @param env - the environment to read; tests pass their own
 * @param overrides - explicit options, which win over the environment
 * @returns a frozen Config
 */
export function loadConfig(
  env: Record<string, string | undefined> = process.env,
  overrides: Partial<Config> = {},
): Config {
  // Compose passes unset variables as "": treat them as unset, so defaults apply.
  const e = EnvSchema.parse(
    Object.fromEntries(Object.entries(env).filter(([, value]) => value !== '')),
  )
  const ms = (s: number) => Math.round(s * 1000)
  return Object.freeze({
    host: e.SANDBOX_HOST,
    port: e.SANDBOX_PORT,
    apiKey: e.SANDBOX_API_KEY,
    e2bPort: e.SANDBOX_E2B_PORT,
    envdPort: e.SANDBOX_ENVD_PORT,
    allowedHosts: e.SANDBOX_ALLOWED_HOSTS,
    defaultTimeoutMs: ms(e.SANDBOX_TIMEOUT),
    maxTimeoutMs: ms(e.SANDBOX_MAX_TIMEOUT),
    interruptGraceMs: ms(e.SANDBOX_INTERRUPT_GRACE),
    poolSize: {
      python: e.SANDBOX_POOL_PYTHON,
      javascript: e.SANDBOX_POOL_JAVASCRIPT,
      typescript: e.SANDBOX_POOL_TYPESCRIPT,
    },
    maxOutputChars: e.SANDBOX_MAX_OUTPUT_CHARS,
    maxBodyBytes: e.SANDBOX_MAX_BODY_BYTES,
    maxFileBytes: e.SANDBOX_MAX_FILE_BYTES,
    idleTimeoutMs: ms(e.SANDBOX_IDLE_TIMEOUT),
    kernelMemoryMb: e.SANDBOX_KERNEL_MEMORY_MB,
    maxContexts: e.SANDBOX_MAX_CONTEXTS,
    workspaceRoot: path.resolve(e.SANDBOX_WORKSPACE_ROOT),
    python: e.SANDBOX_PYTHON,
    startupTimeoutMs: ms(e.SANDBOX_STARTUP_TIMEOUT),
    kernelTemplate: e.SANDBOX_KERNEL_TEMPLATE,
    logLevel: e.LOG_LEVEL,
    runtime: e.SANDBOX_RUNTIME,
    docker: dockerConfig(DockerEnvSchema.parse(env)),
    swarm: swarmConfig(SwarmEnvSchema.parse(env)),
    ...overrides,
  })
}
