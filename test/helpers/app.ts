/**
 * The fast layer's harness: the real HTTP surface (`createApp`, its middleware, routes, validation
 * and error rendering) over a stand-in context service that returns canned values, so tests of the
 * edges run in milliseconds with no Jupyter, no Docker and no listener (`app.request`).
 */
import { pino } from 'pino'
import { vi } from 'vitest'
import type { Context, ExecutionEvent, ExecutionResult, FileEntry } from '../../sandbox/api.js'
import { createApp } from '../../sandbox/app.js'
import { type Config, loadConfig } from '../../sandbox/config.js'
import type { ContextService } from '../../sandbox/contexts.js'
import { SandboxError } from '../../sandbox/errors.js'
import { SandboxMetrics } from '../../sandbox/metrics.js'

/** The id the stand-in knows; every other id is CONTEXT_NOT_FOUND. */
export const KNOWN_ID = 'ctx-00000000-0000-4000-8000-000000000001'

export const CANNED_CONTEXT: Context = {
  context_id: KNOWN_ID,
  type: 'jupyter',
  language: 'python',
  name: 'main',
  description: '',
  status: 'active',
  created_at: '2026-11-30T00:00:00.000Z',
  last_used: '2026-11-30T00:00:00.000Z',
  working_dir: `/tmp/sci-workspaces/${KNOWN_ID}`,
}

export const CANNED_RESULT: ExecutionResult = {
  success: true,
  output: { stdout: 'a\n', stderr: 'w\n', truncated: false, truncated_chars: 0 },
  results: [{ 'text/plain': '42' }],
  execution_count: 1,
  execution_time: 0.001,
  context_restarted: false,
}

/** The events a canned execute emits, in order, when the request asked for a stream. */
export const CANNED_EVENTS: ExecutionEvent[] = [
  { type: 'stdout', text: 'a\n' },
  { type: 'stderr', text: 'w\n' },
  { type: 'result', data: { 'text/plain': '42' } },
  { type: 'end', result: CANNED_RESULT },
]

const ENTRY: FileEntry = {
  name: 'a.txt',
  path: 'a.txt',
  type: 'file',
  size: 1,
  modified: '2026-11-30T00:00:00.000Z',
}

const notFound = (id: string) =>
  new SandboxError('CONTEXT_NOT_FOUND', `No context with id ${JSON.stringify(id.slice(0, 100))}`)

type RunOptions = { signal: AbortSignal; onEvent?: (event: ExecutionEvent) => void }

/**
 * A stand-in for ContextService with the methods the routes call, each a `vi.fn` with a canned
 * answer: KNOWN_ID exists, every other id is CONTEXT_NOT_FOUND. Override one with
 * `contexts.get.mockImplementation(...)` to make it throw.
 */
export function fakeContexts() {
  const known = (id: string) => {
    if (id !== KNOWN_ID) throw notFound(id)
  }
  const run = async (options: RunOptions) => {
    for (const event of CANNED_EVENTS) options.onEvent?.(event)
    return CANNED_RESULT
  }
  const workspace = {
    list: vi.fn(async (_path: string | undefined, _limit: number) => ({
      entries: [ENTRY],
      truncated: false,
    })),
    read: vi.fn(async (_path: string) => ({
      body: new Blob(['x']).stream() as ReadableStream<Uint8Array>,
      size: 1,
    })),
    write: vi.fn(async (_path: string, body: AsyncIterable<Uint8Array>, _max: number) => {
      let size = 0
      for await (const chunk of body) size += chunk.byteLength
      return size
    }),
    remove: vi.fn(async (_path: string) => {}),
  }
  return {
    create: vi.fn(async (_body: unknown) => CANNED_CONTEXT),
    list: vi.fn(() => [CANNED_CONTEXT]),
    get: vi.fn((id: string) => {
      known(id)
      return CANNED_CONTEXT
    }),
    execute: vi.fn(async (id: string, _body: unknown, options: RunOptions) => {
      known(id)
      return run(options)
    }),
    runOnce: vi.fn(async (_body: unknown, options: RunOptions) => run(options)),
    workspace: vi.fn((id: string) => {
      known(id)
      return workspace
    }),
    interrupt: vi.fn(async (id: string) => {
      known(id)
      return CANNED_CONTEXT
    }),
    restart: vi.fn(async (id: string) => {
      known(id)
      return CANNED_CONTEXT
    }),
    remove: vi.fn(async (id: string) => {
      known(id)
      return { context_id: id, status: 'stopped' as const }
    }),
    files: workspace,
  }
}

export type FakeContexts = ReturnType<typeof fakeContexts>

/**
 * `createApp` over `fakeContexts()` and a runtime that reports `healthy`.
 * @param overrides - config options (apiKey, allowedHosts, maxBodyBytes, …)
 * @param options.healthy - what the stand-in runtime reports to /health
 * @default healthy true
 */
export function fakeApp(overrides: Partial<Config> = {}, { healthy = true } = {}) {
  const config = loadConfig({ LOG_LEVEL: 'silent' }, overrides)
  const contexts = fakeContexts()
  const metrics = new SandboxMetrics({ liveContexts: () => 0, poolDepth: () => 0 })
  const app = createApp({
    config,
    // The routes call only the methods above; ContextService's private state is not needed.
    contexts: contexts as unknown as ContextService,
    runtime: { healthy },
    metrics,
    log: pino({ level: 'silent' }),
  })
  return { app, contexts, metrics, config }
}

/** A JSON POST for `app.request`. */
export function postJson(body: unknown, headers: Record<string, string> = {}): RequestInit {
  return {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  }
}
