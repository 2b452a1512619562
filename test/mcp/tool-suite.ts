import { createHash } from 'node:crypto'
import type { Client } from '@modelcontextprotocol/sdk/client/index.js'
import { beforeAll, describe, expect, it } from 'vitest'
import packageJson from '../../package.json' with { type: 'json' }
import { call, expectToolError, resultSize } from './helpers.js'

const FLOWS = [
  { language: 'python', define: 'x = 100', show: 'print(x)' },
  { language: 'javascript', define: 'let x = 100', show: 'console.log(x)' },
] as const

/**
 * The behaviour every transport and backend mode must show, run against a connected client.
 * @param getClient - returns the client connected in the test file's beforeAll
 */
export function describeTools(getClient: () => Client): void {
  it('lists the tools with input and output schemas and annotations', async () => {
    const { tools } = await getClient().listTools()
    const byName = Object.fromEntries(tools.map((tool) => [tool.name, tool]))
    expect(Object.keys(byName).sort()).toEqual([
      'create_context',
      'list_contexts',
      'list_files',
      'read_file',
      'run_code',
      'stop_context',
      'write_file',
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
    expect(byName.write_file?.inputSchema.required).toEqual(['path', 'content'])
    expect(byName.read_file?.inputSchema.required).toEqual(['path'])
    expect(byName.list_files?.inputSchema.required ?? []).toEqual([])
    expect(byName.read_file?.annotations?.readOnlyHint).toBe(true)
    expect(byName.list_files?.annotations?.readOnlyHint).toBe(true)
    expect(byName.write_file?.annotations).toMatchObject({
      readOnlyHint: false,
      destructiveHint: false,
    })
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

  describeFiles(getClient)

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
      // Arguments that fail the schema: the same flat JSON, naming the field at fault.
      const invalid = [
        ['run_code', {}, 'code'],
        ['run_code', { code: 123 }, 'code'],
        ['create_context', {}, 'name'],
        ['create_context', { name: '' }, 'name'],
        ['stop_context', {}, 'context_id'],
        ['read_file', { path: 'a', offset: -1 }, 'offset'],
      ] as const
      for (const [tool, args, field] of invalid) {
        const json = await expectToolError(client, tool, args, 'INVALID_PARAMS')
        expect(json.field, `${tool} ${JSON.stringify(args)}`).toBe(field)
        expect(json.error).toContain(field)
      }
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
      // "first" arrived while the cell still slept. The SDK client handles notifications a
      // microtask after responses, so a last notification that shares a read with the result is
      // dropped on the client side: only the order and the first chunk are certain.
      expect(messages[0]).toBe('first\n')
      expect('first\nsecond\n'.startsWith(messages.join(''))).toBe(true)
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
      expect(after.json.results).toEqual([{ 'text/plain': '42', is_main_result: true }])
    })
  })
}

/** Files in and out of the default Python context, as a model that never manages contexts uses them. */
function describeFiles(getClient: () => Client): void {
  it('writes a CSV, analyses it with pandas and reads the result back byte for byte', async () => {
    const client = getClient()
    const written = await call(client, 'write_file', {
      path: 'data.csv',
      content: 'x,y\n1,2\n3,4\n',
    })
    expect(written.json).toMatchObject({ path: 'data.csv', size: 12, message: expect.any(String) })
    expect(written.result.structuredContent).toEqual(written.json)

    const run = await call(client, 'run_code', {
      code: "import os, pandas as pd\ndf = pd.read_csv('data.csv')\nos.makedirs('out', exist_ok=True)\ndf.assign(z=df.x * df.y).to_csv('out/result.csv', index=False)",
    })
    expect(run.json.success, run.json.error?.traceback).toBe(true)
    expect(run.json.context_id).toBe(written.json.context_id)

    const read = await call(client, 'read_file', { path: 'out/result.csv' })
    expect(read.json).toEqual({
      context_id: written.json.context_id,
      path: 'out/result.csv',
      size: 19,
      offset: 0,
      length: 19,
      mime_type: 'text/csv',
      kind: 'text',
      content: 'x,y,z\n1,2,2\n3,4,12\n',
    })
    expect(read.result.structuredContent).toEqual(read.json)

    const listed = await call(client, 'list_files')
    expect(listed.json.entries).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ name: 'data.csv', type: 'file', size: 12 }),
        expect.objectContaining({ name: 'out', type: 'directory' }),
      ]),
    )
    const inOut = await call(client, 'list_files', { path: 'out' })
    expect(inOut.json).toMatchObject({ path: 'out', truncated: false })
    expect(inOut.json.entries).toEqual([
      expect.objectContaining({ name: 'result.csv', path: 'out/result.csv', size: 19 }),
    ])
  })

  it('returns a PNG that code saved as an image block, and other binary as a resource', async () => {
    const client = getClient()
    const run = await call(client, 'run_code', {
      code: "import matplotlib.pyplot as plt\nplt.plot([1, 3, 2])\nplt.savefig('chart.png')\nplt.close()",
    })
    expect(run.json.success, run.json.error?.traceback).toBe(true)
    const png = await call(client, 'read_file', { path: 'chart.png' })
    expect(png.json).toMatchObject({ kind: 'image', mime_type: 'image/png' })
    const image = png.result.content[1]
    expect(image).toMatchObject({ type: 'image', mimeType: 'image/png' })
    const bytes = Buffer.from(image?.type === 'image' ? image.data : '', 'base64')
    expect(bytes.subarray(0, 8)).toEqual(Buffer.from([137, 80, 78, 71, 13, 10, 26, 10]))
    expect(bytes.length).toBe(png.json.size)

    const blob = Buffer.from(Array.from({ length: 256 }, (_, i) => i))
    await call(client, 'write_file', {
      path: 'bin/blob.bin',
      content: blob.toString('base64'),
      encoding: 'base64',
    })
    const hashed = await call(client, 'run_code', {
      code: "import hashlib\nprint(hashlib.sha256(open('bin/blob.bin', 'rb').read()).hexdigest())",
    })
    expect(hashed.json.stdout).toBe(`${createHash('sha256').update(blob).digest('hex')}\n`)
    const back = await call(client, 'read_file', { path: 'bin/blob.bin' })
    expect(back.json).toMatchObject({ kind: 'binary', size: 256 })
    expect(back.result.content[1]).toMatchObject({
      type: 'resource',
      resource: { mimeType: 'application/octet-stream', blob: blob.toString('base64') },
    })
  })

  it('refuses paths outside the working directory and missing files', async () => {
    const client = getClient()
    await expectToolError(client, 'write_file', { path: '../x', content: 'x' }, 'INVALID_PARAMS')
    await expectToolError(client, 'read_file', { path: '/etc/passwd' }, 'INVALID_PARAMS')
    await expectToolError(client, 'read_file', { path: 'a/../../etc/passwd' }, 'INVALID_PARAMS')
    await expectToolError(client, 'list_files', { path: '..' }, 'INVALID_PARAMS')
    await expectToolError(
      client,
      'write_file',
      { path: 'x.bin', content: 'not base64!', encoding: 'base64' },
      'INVALID_PARAMS',
    )
    await expectToolError(client, 'read_file', { path: 'no-such-file.txt' }, 'FILE_NOT_FOUND')
    await expectToolError(
      client,
      'read_file',
      { path: 'data.csv', context_id: 'ctx-nope' },
      'CONTEXT_NOT_FOUND',
    )
    // The flat shape of earlier versions: the message in error, the code beside it.
    const gone = await expectToolError(
      client,
      'stop_context',
      { context_id: 'ctx-x' },
      'CONTEXT_NOT_FOUND',
    )
    expect(gone).toEqual({ error: expect.any(String), code: 'CONTEXT_NOT_FOUND' })
  })

  it('keeps every result under 1 MiB: output cut with the marker, large files read in pieces', async () => {
    const client = getClient()
    for (const char of ['x', 'é', '\\u0001']) {
      const { result, json } = await call(client, 'run_code', {
        code: `print('${char}' * 600_000)`,
      })
      expect(resultSize(result)).toBeLessThan(1024 * 1024)
      expect(json).toMatchObject({ success: true, truncated: true })
      expect(json.stdout).toMatch(/\[\.\.\. \d+ characters of stdout truncated \.\.\.\]/)
      expect(result.structuredContent).toEqual(json)
    }
    const html = await call(client, 'run_code', {
      code: "from IPython.display import HTML\ndisplay(HTML('<b>x</b>' * 115_000))",
    })
    expect(resultSize(html.result)).toBeLessThan(1024 * 1024)
    expect(html.json).toMatchObject({ success: true, truncated: true })
    expect(html.json.results).toEqual([{ 'text/plain': '<IPython.core.display.HTML object>' }])
    expect(html.json.stderr).toMatch(/a text\/html result of \d+ bytes not sent/)
    const line = 'é,ligne de données\n'
    await call(client, 'run_code', {
      code: `open('big.txt', 'w').write(${JSON.stringify(line)} * 40_000)`,
    })
    let text = ''
    let offset: number | undefined = 0
    let pieces = 0
    while (offset !== undefined) {
      const { result, json } = await call(client, 'read_file', { path: 'big.txt', offset })
      expect(resultSize(result), JSON.stringify(json).slice(0, 200)).toBeLessThan(1024 * 1024)
      expect(json).toMatchObject({ kind: 'text', offset, size: Buffer.byteLength(line) * 40_000 })
      text += json.content
      offset = json.next_offset
      pieces += 1
    }
    expect(pieces).toBeGreaterThan(1)
    expect(text).toBe(line.repeat(40_000))
    const part = await call(client, 'read_file', { path: 'big.txt', offset: 2, length: 5 })
    expect(part.json).toMatchObject({ content: ',lign', offset: 2, length: 5, next_offset: 7 })
  })
}
