import { type ChildProcess, spawn } from 'node:child_process'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { onTestFinished } from 'vitest'

const ROOT = path.resolve(import.meta.dirname, '../..')

export type CliRun = {
  code: number | null
  signal: NodeJS.Signals | null
  stdout: string
  stderr: string
}

/**
 * Writes cases as JSONL (objects are serialized, strings written as they are) into a fresh dir,
 * removed when the calling test finishes.
 */
export async function writeCases(
  cases: (object | string)[],
): Promise<{ dir: string; file: string }> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'sci-eval-test-'))
  onTestFinished(() => rm(dir, { recursive: true, force: true }))
  const file = path.join(dir, 'cases.jsonl')
  const lines = cases.map((entry) => (typeof entry === 'string' ? entry : JSON.stringify(entry)))
  await writeFile(file, `${lines.join('\n')}\n`)
  return { dir, file }
}

/**
 * Starts the real CLI, `node --import tsx eval/main.ts`, as a child process. SANDBOX_BASE_URL is
 * cleared, so without --url it runs an embedded sandbox.
 */
export function spawnCli(
  args: string[],
  env: Record<string, string> = {},
): ChildProcess & {
  done: Promise<CliRun>
} {
  const child = spawn(process.execPath, ['--import', 'tsx', 'eval/main.ts', ...args], {
    cwd: ROOT,
    env: { ...process.env, SANDBOX_BASE_URL: '', LOG_LEVEL: 'warn', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let stdout = ''
  let stderr = ''
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
    stdout += chunk
  })
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
    stderr += chunk
  })
  const done = new Promise<CliRun>((resolve) =>
    child.once('close', (code, signal) => resolve({ code, signal, stdout, stderr })),
  )
  return Object.assign(child, { done })
}

/** Runs the CLI to its end. */
export function runCli(args: string[], env?: Record<string, string>): Promise<CliRun> {
  return spawnCli(args, env).done
}

/** Parses a results JSONL file's text into results by id. */
export function byId(jsonl: string): Record<string, { status: string; [key: string]: unknown }> {
  const lines = jsonl.split('\n').filter((line) => line !== '')
  return Object.fromEntries(lines.map((line) => JSON.parse(line)).map((r) => [r.id, r]))
}
