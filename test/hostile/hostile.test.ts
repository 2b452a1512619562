/**
 * The adversarial catalogue of shared/HOSTILE.md against the real service process (process
 * runtime). Each file in test/exploits/ is one attack: its header says what it attacks, the
 * verdict expected and the timeout. After every case the invariants are checked: the service
 * answers, canary contexts keep their state, the registry matches the kernel processes, and the
 * service process is the same one with bounded memory and file descriptors.
 */
import { readdirSync, readFileSync, readlinkSync } from 'node:fs'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest'
import type { ExecutionResult, Language } from '../../sandbox/api.js'
import { descendants } from '../helpers/processes.js'
import { spawnService } from '../helpers/service.js'

const EXPLOITS = path.resolve('test/exploits')
const MAX_OUTPUT_CHARS = 100_000
const RSS_CEILING_MIB = 512

type Exploit = {
  file: string
  attacks: string
  expect: string
  timeout: number
  code: string
  language: Language
}

function loadExploits(): Exploit[] {
  return readdirSync(EXPLOITS)
    .sort()
    .map((file) => {
      const code = readFileSync(path.join(EXPLOITS, file), 'utf8')
      const header = (key: string) =>
        new RegExp(`^(?:#|//) ${key}: (.+)$`, 'm').exec(code)?.[1] ?? ''
      return {
        file,
        attacks: header('attacks'),
        expect: header('expect'),
        timeout: Number(header('timeout')),
        code,
        language: file.endsWith('.js') ? 'javascript' : 'python',
      }
    })
}

let service: Awaited<ReturnType<typeof spawnService>>
const canaries: Record<string, string> = {}
let baselineFds = 0

const rssMiB = (pid: number) =>
  Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1]) / 1024
const fds = (pid: number) =>
  readdirSync(`/proc/${pid}/fd`).filter(
    (fd) => readlinkSync(`/proc/${pid}/fd/${fd}`, { encoding: 'utf8' }) !== '',
  ).length
const kernels = (pid: number) =>
  descendants(pid).filter((p) => /python_kernel|tslab_kernel/.test(p.cmdline)).length

async function poolReady(): Promise<number> {
  const text = await (await fetch(`${service.baseUrl}/metrics`)).text()
  return [...text.matchAll(/^sandbox_pool_ready_kernels\{[^}]*\} (\d+)/gm)].reduce(
    (sum, m) => sum + Number(m[1]),
    0,
  )
}

async function checkInvariants(): Promise<void> {
  const pid = service.child.pid ?? 0
  // 1. Health answers, fast.
  const health = await fetch(`${service.baseUrl}/health`, { signal: AbortSignal.timeout(2000) })
  expect(health.status).toBe(200)
  // 2. Canaries answer and kept their state.
  for (const [language, id] of Object.entries(canaries)) {
    const code = language === 'python' ? 'print(canary, 1 + 1)' : 'console.log(canary, 1 + 1)'
    const body = await service.client.execute(id, { code })
    expect(body.output.stdout, `${language} canary`).toBe('alive 2\n')
  }
  // 3. Registry and reality agree: every kernel process is a context's or a warm one.
  await vi.waitFor(
    async () => {
      const listed = (await service.client.listContexts()).total
      expect(kernels(pid), 'kernel processes == contexts + warm pool').toBe(
        listed + (await poolReady()),
      )
    },
    { timeout: 20_000, interval: 200 },
  )
  // 4 and 5. Same process, bounded memory and descriptors.
  expect(service.child.exitCode).toBeNull()
  expect(rssMiB(pid)).toBeLessThan(RSS_CEILING_MIB)
  expect(fds(pid)).toBeLessThan(baselineFds + 64)
}

function checkVerdict(exploit: Exploit, result: ExecutionResult): void {
  const [verdict, name] = exploit.expect.split(' ')
  switch (verdict) {
    case 'timeout':
    case 'timeout-restarted':
      expect(result.error?.code).toBe('EXECUTION_TIMEOUT')
      expect(result.context_restarted).toBe(verdict === 'timeout-restarted')
      break
    case 'kernel_died':
      expect(result.error).toMatchObject({ code: 'EXECUTION_FAILED', reason: 'kernel_died' })
      expect(result.context_restarted).toBe(true)
      break
    case 'error':
      expect(result.success).toBe(false)
      expect(result.error?.name).toBe(name)
      break
    case 'failed':
      expect(result.success).toBe(false)
      expect(result.error?.value).toBeTruthy()
      break
    case 'truncated':
      expect(result.output.truncated).toBe(true)
      expect(result.output.stdout.length + result.output.stderr.length).toBeLessThan(
        MAX_OUTPUT_CHARS + 500,
      )
      expect(JSON.stringify(result.results).length).toBeLessThan(MAX_OUTPUT_CHARS)
      break
    default:
      throw new Error(`${exploit.file}: unknown expectation "${exploit.expect}"`)
  }
}

beforeAll(async () => {
  service = await spawnService({
    SANDBOX_MAX_OUTPUT_CHARS: String(MAX_OUTPUT_CHARS),
    SANDBOX_KERNEL_MEMORY_MB: '1024',
    SANDBOX_POOL_PYTHON: '1',
    SANDBOX_POOL_JAVASCRIPT: '1',
    SANDBOX_POOL_TYPESCRIPT: '0',
  })
  for (const language of ['python', 'javascript'] as const) {
    const { context_id } = await service.client.createContext({ language })
    canaries[language] = context_id
    const set = language === 'python' ? 'canary = "alive"' : 'var canary = "alive"'
    await service.client.execute(context_id, { code: set })
  }
  baselineFds = fds(service.child.pid ?? 0)
})

afterAll(async () => {
  service?.child.kill('SIGTERM')
  await service?.exited
})

describe.each(loadExploits())('$file', (exploit) => {
  it(`${exploit.attacks} → ${exploit.expect}`, { timeout: 120_000 }, async () => {
    const context = await service.client.createContext({ language: exploit.language })
    const started = Date.now()
    // Resolves only on 200: the verdict is in the result, never an HTTP error.
    const result = await service.client.execute(context.context_id, {
      code: exploit.code,
      timeout: exploit.timeout,
    })
    checkVerdict(exploit, result)
    expect(Date.now() - started).toBeLessThan((exploit.timeout + 15) * 1000)

    // The attacked context itself is usable afterwards.
    const probe = exploit.language === 'python' ? 'print("ok")' : 'console.log("ok")'
    const after = await service.client.execute(context.context_id, { code: probe })
    expect(after.output.stdout).toBe('ok\n')
    await service.client.stopContext(context.context_id)

    await checkInvariants()
  })
})

describe('known limits of the process runtime (use per-context containers for these)', () => {
  it.skip('A8 fork bomb: no per-context pids limit; the compose file caps the whole service (pids_limit)', () => {})
  it.skip('A11 disk fill: no per-context quota; the compose file caps /workspace and /tmp (tmpfs size)', () => {})
})
