// The E2B front door without Jupyter: result keys, the main result, paths, keepalive lines.
import { describe, expect, test } from 'vitest'
import type { ExecutionEvent, ExecutionResult } from '../../sandbox/api.js'
import { loadConfig } from '../../sandbox/config.js'
import type { ContextService } from '../../sandbox/contexts.js'
import { DefaultContexts } from '../../sandbox/e2b/defaults.js'
import { toWorkspacePath } from '../../sandbox/e2b/envd-paths.js'
import { resultLine } from '../../sandbox/e2b/events.js'
import { createInterpreterApp } from '../../sandbox/e2b/interpreter.js'
import { createLogger } from '../../sandbox/logger.js'

describe('result lines', () => {
  test('MIME types become E2B keys; others go to extra; a string value loses its quotes', () => {
    const line = resultLine({
      'text/plain': "'hi'",
      'image/png': 'iVBOR',
      'application/vnd.x+json': { a: 1 },
      is_main_result: true,
    })
    expect(line).toEqual({
      type: 'result',
      is_main_result: true,
      text: 'hi',
      png: 'iVBOR',
      extra: { 'application/vnd.x+json': { a: 1 } },
    })
  })

  test('a display is not the main result', () => {
    expect(resultLine({ 'text/html': '<b>' })).toEqual({
      type: 'result',
      is_main_result: false,
      html: '<b>',
    })
  })
})

describe('envd paths', () => {
  test('relative, ~, /home/user and the working dir map into the workspace', () => {
    expect(toWorkspacePath('a/b.txt', '/w/ctx')).toBe('a/b.txt')
    expect(toWorkspacePath('~/a.txt', '/w/ctx')).toBe('a.txt')
    expect(toWorkspacePath('/home/user', '/w/ctx')).toBe('')
    expect(toWorkspacePath('/home/user/x/../y', '/w/ctx')).toBe('y')
    expect(toWorkspacePath('/w/ctx/z', '/w/ctx')).toBe('z')
  })

  test('anything else is refused', () => {
    expect(() => toWorkspacePath('/etc/passwd', '/w/ctx')).toThrow(/outside/)
    expect(() => toWorkspacePath('../up', '/w/ctx')).toThrow(/leaves/)
    expect(() => toWorkspacePath('/home/user/../../etc', '/w/ctx')).toThrow(/outside/)
  })
})

/** A ContextService that answers one context and runs cells with the given script. */
function fakeContexts(run: (onEvent: (e: ExecutionEvent) => void) => Promise<ExecutionResult>) {
  const context = {
    context_id: 'ctx-1',
    type: 'jupyter',
    language: 'python',
    working_dir: '/w',
  }
  return {
    get: () => context,
    create: async () => context,
    execute: async (
      _id: string,
      _body: unknown,
      options: { onEvent: (e: ExecutionEvent) => void },
    ) => run(options.onEvent),
  } as unknown as ContextService
}

const RESULT: ExecutionResult = {
  success: true,
  output: { stdout: '', stderr: '', truncated: false, truncated_chars: 0 },
  results: [],
  execution_count: 3,
  execution_time: 0,
  context_restarted: false,
}

function app(contexts: ContextService, apiKey?: string) {
  const config = loadConfig({ LOG_LEVEL: 'silent' }, { apiKey })
  return createInterpreterApp({
    config,
    contexts,
    defaults: new DefaultContexts(contexts),
    log: createLogger('silent'),
  })
}

const execute = (body: unknown, headers: Record<string, string> = {}) => ({
  method: 'POST',
  headers: { 'content-type': 'application/json', ...headers },
  body: JSON.stringify(body),
})

describe('/execute', () => {
  test('a keepalive line after 5 s of silence, then the output and end_of_execution', async () => {
    const contexts = fakeContexts(async (onEvent) => {
      await new Promise((resolve) => setTimeout(resolve, 5_500))
      onEvent({ type: 'stdout', text: 'late\n' })
      onEvent({ type: 'end', result: RESULT })
      return RESULT
    })
    const response = await app(contexts).request('/execute', execute({ code: 'x' }))
    const lines = (await response.text())
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line))
    expect(lines.map((line) => line.type)).toEqual([
      'keepalive',
      'stdout',
      'number_of_executions',
      'end_of_execution',
    ])
    expect(lines[1]).toMatchObject({ text: 'late\n', timestamp: expect.any(String) })
    expect(lines[2]).toEqual({ type: 'number_of_executions', execution_count: 3 })
  }, 10_000)

  test('context_id and language together are a 400, as E2B answers', async () => {
    const response = await app(fakeContexts(async () => RESULT)).request(
      '/execute',
      execute({ code: '1', context_id: 'ctx-1', language: 'python' }),
    )
    expect(response.status).toBe(400)
    expect(await response.text()).toBe('Only one of context_id or language can be provided')
  })

  test('with SANDBOX_API_KEY: 401 without it, X-Access-Token accepted', async () => {
    const keyed = app(
      fakeContexts(async () => RESULT),
      'k',
    )
    expect((await keyed.request('/execute', execute({ code: '1' }))).status).toBe(401)
    const ok = await keyed.request('/execute', execute({ code: '1' }, { 'x-access-token': 'k' }))
    expect(ok.status).toBe(200)
  })
})
