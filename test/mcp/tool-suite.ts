import type { Client } from '@modelcontextprotocol/sdk/client/index.js'
import { beforeAll, describe, expect, it } from 'vitest'
import packageJson from '../../package.json' with { type: 'json' }
import { call, expectToolError } from './helpers.js'

const FLOWS = [
  { language: 'python', define: 'x = 100', show: 'print(x)' },
  { language: 'javascript', define: 'let x = 100', show: 'console.log(x)' },
] as const

/**
 * The behaviour every transport and backend mode must show, run against a connected client.
 * @param getClient - returns the client connected in the test file's beforeAll
 */
export function describeTools(getClient: () => Client): void {
  it('lists the four tools with input and output schemas and annotations', async () => {
    const { tools } = await getClient().listTools()
    const byName = Object.fromEntries(tools.map((tool) => [tool.name, tool]))
    expect(Object.keys(byName).sort()).toEqual([
      'create_context',
      'list_contexts',
      'run_code',
      'stop_context',
    ])
    expect(byName.run_code?.inputSchema.required).toEqual(['code'])
    expect(Object.keys(byName.run_code?.inputSchema.properties ?? {})).toEqual([
      'code',
      'context_id',
      'language',
      'timeout',
    ])
    expect(byName.create_context?.inputSchema.required).toEqual(['name'])
    expect(byName.stop_context?.inputSchema.required).toEqual(['context_id'])
    for (const tool of tools) {
      expect(tool.description?.length, tool.name).toBeGreaterThan(100)
      expect(tool.outputSchema?.type, tool.name).toBe('object')
    }
    expect(byName.list_contexts?.annotations?.readOnlyHint).toBe(true)
    expect(getClient().getServerVersion()).toMatchObject({
      name: 'sandbox-code-interpreter',
      version: packageJson.version,
    })
    expect(byName.stop_context?.annotations?.destructiveHint).toBe(true)
  })

  for (const { language, define, show } of FLOWS) {
    it(`keeps ${language} state in a created context until stop_context`, async () => {
      const client = getClient()
      const created = await call(client, 'create_context', { name: `${language}-flow`, language })
      expect(created.json).toMatchObject({
        name: `${language}-flow`,
        language,
        description: '',
        status: 'active',
        context_id: expect.stringMatching(/^ctx-/),
        created_at: expect.any(String),
        message: expect.any(String),
      })
      expect(created.result.structuredContent).toEqual(created.json)
      const id = created.json.context_id

      expect((await call(client, 'run_code', { code: define, context_id: id })).json.success).toBe(
        true,
      )
      const printed = await call(client, 'run_code', { code: show, context_id: id })
      expect(printed.json).toMatchObject({ success: true, stdout: '100\n', context_id: id })
      expect(printed.result.structuredContent).toEqual(printed.json)

      const listed = await call(client, 'list_contexts')
      expect(listed.json.total).toBe(listed.json.contexts.length)
      expect(listed.json.contexts.map((c: { context_id: string }) => c.context_id)).toContain(id)

      const stopped = await call(client, 'stop_context', { context_id: id })
      expect(stopped.json).toMatchObject({ context_id: id, status: 'stopped' })
      expect(stopped.json.message).toEqual(expect.any(String))
      const after = await call(client, 'list_contexts')
      expect(after.json.contexts.map((c: { context_id: string }) => c.context_id)).not.toContain(id)
    })
  }

  it('keeps state in a default context without context_id, and recreates it once stopped', async () => {
    const client = getClient()
    const first = await call(client, 'run_code', { code: 'counter = 1' })
    expect(first.json.success).toBe(true)
    const defaultId = first.json.context_id
    const second = await call(client, 'run_code', { code: 'counter += 1\nprint(counter)' })
    expect(second.json).toMatchObject({ stdout: '2\n', context_id: defaultId })

    const listed = await call(client, 'list_contexts')
    expect(listed.json.contexts).toContainEqual(
      expect.objectContaining({ context_id: defaultId, name: 'default-python' }),
    )
    await call(client, 'stop_context', { context_id: defaultId })
    const fresh = await call(client, 'run_code', { code: 'print("fresh")' })
    expect(fresh.json).toMatchObject({ success: true, stdout: 'fresh\n' })
    expect(fresh.json.context_id).not.toBe(defaultId)
  })

  it('returns a matplotlib plot as an image block', async () => {
    const { result, json } = await call(getClient(), 'run_code', {
      code: 'import matplotlib.pyplot as plt\nplt.plot([1, 2, 3])\nplt.show()',
    })
    expect(json.success).toBe(true)
    const images = result.content.filter((block) => block.type === 'image')
    expect(images).toHaveLength(1)
    expect(images[0]).toMatchObject({
      mimeType: 'image/png',
      data: expect.stringMatching(/^iVBOR/),
    })
    // The JSON keeps the figure's text form but not the base64 a second time.
    expect(JSON.stringify(json.results)).not.toContain('image/png')
  })

  describe('in a scratch context', () => {
    let id = ''
    beforeAll(async () => {
      id = (await call(getClient(), 'create_context', { name: 'scratch' })).json.context_id
      await call(getClient(), 'run_code', { code: 'kept = 7', context_id: id })
    })

    it('reports bad input as isError results with stable codes, and keeps serving', async () => {
      const client = getClient()
      await expectToolError(
        client,
        'run_code',
        { code: '1', context_id: 'ctx-nope' },
        'CONTEXT_NOT_FOUND',
      )
      await expectToolError(client, 'stop_context', { context_id: 'ctx-nope' }, 'CONTEXT_NOT_FOUND')
      await expectToolError(
        client,
        'run_code',
        { code: '1', language: 'cobol' },
        'INVALID_LANGUAGE',
      )
      await expectToolError(
        client,
        'create_context',
        { name: 'c', language: 'cobol' },
        'INVALID_LANGUAGE',
      )
      await expectToolError(
        client,
        'run_code',
        { code: '1', context_id: id, timeout: 1e6 },
        'INVALID_PARAMS',
      )
      await expectToolError(client, 'create_context', { name: 'n'.repeat(300) }, 'INVALID_PARAMS')
      // Arguments that do not match the schema are refused by the SDK, also as isError results.
      const wrongType = await call(client, 'run_code', { code: 42 })
      expect(wrongType.result.isError).toBe(true)
      const unknownTool = await call(client, 'no_such_tool', {})
      expect(unknownTool.result.isError).toBe(true)
      expect(
        (await call(client, 'run_code', { code: 'print(kept)', context_id: id })).json.stdout,
      ).toBe('7\n')
    })

    it('reports EXECUTION_TIMEOUT with the output so far, and the context keeps its state', async () => {
      const client = getClient()
      const { result, json } = await call(client, 'run_code', {
        code: 'import time\nprint("started", flush=True)\ntime.sleep(10)',
        context_id: id,
        timeout: 1,
      })
      expect(result.isError).toBe(true)
      expect(json).toMatchObject({
        success: false,
        stdout: 'started\n',
        error: { code: 'EXECUTION_TIMEOUT', message: expect.any(String) },
      })
      expect(result.structuredContent).toEqual(json)
      expect(
        (await call(client, 'run_code', { code: 'print(kept)', context_id: id })).json.stdout,
      ).toBe('7\n')
    })

    it('sends output as progress notifications when the client asks for progress', async () => {
      const messages: string[] = []
      const { json } = await call(
        getClient(),
        'run_code',
        {
          code: 'import time\nprint("first", flush=True)\ntime.sleep(0.3)\nprint("second")',
          context_id: id,
        },
        { onprogress: (progress) => messages.push(progress.message ?? '') },
      )
      expect(json.stdout).toBe('first\nsecond\n')
      expect(messages.join('')).toBe('first\nsecond\n')
      expect(messages.length).toBeGreaterThanOrEqual(2)
    })

    it('interrupts a cancelled run and leaves the context usable', async () => {
      const client = getClient()
      const controller = new AbortController()
      const started = Date.now()
      const running = call(
        client,
        'run_code',
        { code: 'import time\ntime.sleep(30)', context_id: id },
        { signal: controller.signal },
      )
      setTimeout(() => controller.abort(), 1000)
      await expect(running).rejects.toThrow()
      const { json } = await call(client, 'run_code', { code: 'print(kept)', context_id: id })
      expect(json.stdout).toBe('7\n')
      expect(Date.now() - started).toBeLessThan(10_000)
    })

    it('reports EXECUTION_FAILED when the kernel dies, and the context runs code again', async () => {
      const client = getClient()
      const { result, json } = await call(client, 'run_code', {
        code: 'import os\nos._exit(1)',
        context_id: id,
      })
      expect(result.isError).toBe(true)
      expect(json.error.code).toBe('EXECUTION_FAILED')
      expect(json.context_restarted).toBe(true)
      const after = await call(client, 'run_code', { code: '6 * 7', context_id: id })
      expect(after.json.results).toEqual([{ 'text/plain': '42' }])
    })
  })
}
