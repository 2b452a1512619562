/**
 * The two image profiles (full, slim) side by side: image size; the stack's sandbox service from
 * `up` to healthy (docker compose, a project, container names and ports of its own, taken down
 * after); and the unique memory (USS) of an idle context's kernel, fresh and after importing the
 * profile's usual libraries, read by the kernel from its own /proc/self/smaps_rollup. Needs the
 * images: runs alone, `npx tsx bench/profiles.ts` (not part of `npm run bench`).
 * BENCH_FULL_TAG and BENCH_SLIM_TAG pick the tags of sandbox-code-interpreter/sandbox (default
 * latest and slim, what scripts/test-docker.sh builds); BENCH_N the contexts per profile (4).
 */
import { execFile } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { promisify } from 'node:util'
import { createSandboxClient, type SandboxClient } from '../client/index.js'

const run = promisify(execFile)
const DOCKER = process.env.DOCKER ?? 'docker'
const N = Number(process.env.BENCH_N ?? 4)

type Profile = { name: 'full' | 'slim'; tag: string; imports: string }
const PROFILES: Profile[] = [
  {
    name: 'full',
    tag: process.env.BENCH_FULL_TAG ?? 'latest',
    imports: 'import pandas, matplotlib.pyplot, sklearn.linear_model, seaborn, statsmodels.api',
  },
  {
    name: 'slim',
    tag: process.env.BENCH_SLIM_TAG ?? 'slim',
    imports: 'import pandas, matplotlib.pyplot',
  },
]

const USS_MIB = `
fields = dict(l.split(':', 1) for l in open('/proc/self/smaps_rollup').read().splitlines()[1:])
print(sum(int(fields[k].split()[0]) for k in ('Private_Clean', 'Private_Dirty')) / 1024)`

type Result = {
  profile: string
  imageMB: number
  upToHealthyMs: number
  freshUssMiB: number
  importedUssMiB: number
  imports: string
}

/** Compose v2 (`docker compose`) when the client has it, else Debian's docker-compose 1.29. */
async function composeCommand(): Promise<string[]> {
  try {
    await cli(DOCKER, ['compose', 'version'])
    return [DOCKER, 'compose']
  } catch {
    return ['docker-compose']
  }
}

async function cli(file: string, args: string[], env?: NodeJS.ProcessEnv): Promise<string> {
  const { stdout } = await run(file, args, { timeout: 180_000, env: env ?? process.env })
  return stdout.trim()
}

const median = (values: number[]) => [...values].sort((a, b) => a - b)[values.length >> 1] ?? NaN

/** The kernel's USS in MiB, measured by the kernel itself once idle. */
async function uss(client: SandboxClient, id: string): Promise<number> {
  await sleep(300)
  const result = await client.execute(id, { code: USS_MIB })
  return Number(result.output.stdout.trim())
}

/** Brings the profile's sandbox service up under its own project, measures it, takes it down. */
async function measure(profile: Profile, composeCli: string[]): Promise<Result> {
  const image = `sandbox-code-interpreter/sandbox:${profile.tag}`
  const imageMB = Number(await cli(DOCKER, ['image', 'inspect', '-f', '{{.Size}}', image])) / 1e6
  const project = `sci-bench-${profile.name}-${randomBytes(3).toString('hex')}`
  const container = `${project}-sandbox`
  const apiKey = randomBytes(24).toString('hex')
  const dir = await mkdtemp(path.join(os.tmpdir(), 'sci-bench-profiles-'))
  const envFile = path.join(dir, 'bench.env')
  await writeFile(
    envFile,
    [
      `SANDBOX_API_KEY=${apiKey}`,
      `SCI_IMAGE_TAG=${profile.tag}`,
      `SCI_SANDBOX_CONTAINER=${container}`,
      `SCI_MCP_CONTAINER=${project}-mcp`,
      'SANDBOX_PUBLISH=127.0.0.1:0',
      'E2B_PUBLISH=127.0.0.1:0',
      'ENVD_PUBLISH=127.0.0.1:0',
      'MCP_PUBLISH=127.0.0.1:0',
      // The contexts are the ones measured, plus the pool refilling behind them.
      `SANDBOX_POOL_PYTHON=${N}`,
      'SANDBOX_POOL_JAVASCRIPT=0',
      'SANDBOX_POOL_TYPESCRIPT=0',
      '',
    ].join('\n'),
  )
  const compose = (...args: string[]) =>
    cli(composeCli[0] ?? DOCKER, [
      ...composeCli.slice(1),
      '--env-file',
      envFile,
      '-p',
      project,
      '-f',
      'docker-compose.yml',
      ...args,
    ])
  try {
    const started = performance.now()
    await compose('up', '-d', '--no-build', '--no-deps', 'sandbox-code-interpreter')
    while (
      (await cli(DOCKER, ['inspect', '-f', '{{.State.Health.Status}}', container])) !== 'healthy'
    ) {
      if (performance.now() - started > 180_000)
        throw new Error(`${container}: not healthy in 180 s`)
      await sleep(100)
    }
    const upToHealthyMs = performance.now() - started
    const port = (await cli(DOCKER, ['port', container, '8080/tcp']))
      .split('\n')[0]
      ?.split(':')
      .pop()
    const client = createSandboxClient({ baseUrl: `http://127.0.0.1:${port}`, apiKey })
    const fresh: number[] = []
    const imported: number[] = []
    for (let i = 0; i < N; i++) {
      const { context_id: id } = await client.createContext({ language: 'python' })
      fresh.push(await uss(client, id))
      const loaded = await client.execute(id, { code: profile.imports })
      if (!loaded.success) throw new Error(`${profile.imports}: ${JSON.stringify(loaded.error)}`)
      imported.push(await uss(client, id))
    }
    return {
      profile: profile.name,
      imageMB,
      upToHealthyMs,
      freshUssMiB: median(fresh),
      importedUssMiB: median(imported),
      imports: profile.imports,
    }
  } finally {
    try {
      await compose('down', '-v', '--timeout', '20')
    } finally {
      await rm(dir, { recursive: true, force: true })
    }
  }
}

/** A Markdown table, one row per profile. */
export function profilesTable(results: Result[]): string {
  const lines = [
    '| profile | image MB | `up` → healthy ms | idle context USS MiB | USS MiB after imports | imports |',
    '| --- | ---: | ---: | ---: | ---: | --- |',
  ]
  for (const r of results)
    lines.push(
      `| ${r.profile} | ${r.imageMB.toFixed(0)} | ${r.upToHealthyMs.toFixed(0)} | ${r.freshUssMiB.toFixed(1)} | ${r.importedUssMiB.toFixed(1)} | \`${r.imports}\` |`,
    )
  return lines.join('\n')
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const composeCli = await composeCommand()
  const results: Result[] = []
  for (const profile of PROFILES) {
    console.error(`profile ${profile.name} (sandbox-code-interpreter/sandbox:${profile.tag}) …`)
    results.push(await measure(profile, composeCli))
  }
  process.stdout.write(`## Image profiles\n\n${profilesTable(results)}\n`)
}
