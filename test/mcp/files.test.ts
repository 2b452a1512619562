import { describe, expect, it } from 'vitest'
import { createSandboxClient, type FetchLike } from '../../mcp/sandbox-client.js'
import { classifyFile } from '../../mcp/tools/file-kind.js'

const bytes = (...values: number[]) => Uint8Array.from(values)
const utf8 = (text: string) => new TextEncoder().encode(text)

describe('classifyFile', () => {
  it('recognises images by signature, whatever the name says', () => {
    const png = bytes(0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0)
    expect(classifyFile(png, 'application/octet-stream')).toEqual({
      kind: 'image',
      mimeType: 'image/png',
    })
    expect(classifyFile(bytes(0xff, 0xd8, 0xff, 0xe0), 'image/png').mimeType).toBe('image/jpeg')
    expect(classifyFile(utf8('GIF89a…'), 'image/gif').kind).toBe('image')
    expect(classifyFile(utf8('RIFF\0\0\0\0WEBPVP8 '), 'image/webp').mimeType).toBe('image/webp')
    // Named .png but not one: sending it as an image block would break the client.
    expect(classifyFile(utf8('not a png'), 'image/png')).toMatchObject({ kind: 'text' })
  })

  it('returns UTF-8 without NUL bytes as text, keeping textual types only', () => {
    expect(classifyFile(utf8('\ufeffa,b\n'), 'text/csv; charset=utf-8')).toEqual({
      kind: 'text',
      mimeType: 'text/csv',
      text: '\ufeffa,b\n',
    })
    expect(classifyFile(utf8('const x: number = 1'), 'video/mp2t').mimeType).toBe('text/plain')
    expect(classifyFile(utf8('<svg/>'), 'image/svg+xml; charset=utf-8').mimeType).toBe(
      'image/svg+xml',
    )
    expect(classifyFile(new Uint8Array(), 'application/octet-stream').kind).toBe('text')
  })

  it('returns invalid UTF-8 or NUL bytes as binary with the declared type', () => {
    expect(classifyFile(bytes(0xc3, 0x28), 'text/csv; charset=utf-8')).toEqual({
      kind: 'binary',
      mimeType: 'text/csv',
    })
    expect(classifyFile(utf8('PK\u0003\u0004\0'), 'application/zip').kind).toBe('binary')
  })
})

describe('SandboxClient files', () => {
  function clientAnswering(respond: (url: URL, init: RequestInit) => Response) {
    const calls: { url: URL; init: RequestInit }[] = []
    const fetch: FetchLike = async (input, init) => {
      calls.push({ url: new URL(input), init })
      return respond(new URL(input), init)
    }
    return { client: createSandboxClient({ fetch, baseUrl: 'http://sandbox' }), calls }
  }

  it('sends raw bytes and encodes the path into the query', async () => {
    const { client, calls } = clientAnswering(() =>
      Response.json({ files: [{ path: 'a b/#1.csv', size: 3 }] }, { status: 201 }),
    )
    await client.writeFile('ctx-1', 'a b/#1.csv', bytes(1, 2, 3))
    const [sent] = calls
    expect(sent?.init.method).toBe('PUT')
    expect(sent?.url.pathname).toBe('/api/v1/contexts/ctx-1/files')
    expect(sent?.url.searchParams.get('path')).toBe('a b/#1.csv')
    expect(sent?.init.body).toEqual(bytes(1, 2, 3))
    expect(sent?.init.headers).toMatchObject({ 'content-type': 'application/octet-stream' })
  })

  it('refuses a download over maxBytes, by content-length or while streaming', async () => {
    const declared = clientAnswering(
      () => new Response(new Uint8Array(11), { headers: { 'content-length': '11' } }),
    )
    await expect(declared.client.readFile('ctx-1', 'f', { maxBytes: 10 })).rejects.toMatchObject({
      code: 'LIMIT_EXCEEDED',
      details: { reason: 'file_size' },
    })
    const streamed = clientAnswering(
      () => new Response(new Blob([new Uint8Array(6), new Uint8Array(6)]).stream()),
    )
    await expect(streamed.client.readFile('ctx-1', 'f', { maxBytes: 10 })).rejects.toMatchObject({
      code: 'LIMIT_EXCEEDED',
    })
    const fits = clientAnswering(
      () => new Response(bytes(1, 2), { headers: { 'content-type': 'image/png' } }),
    )
    expect(await fits.client.readFile('ctx-1', 'f', { maxBytes: 2 })).toEqual({
      bytes: Buffer.from([1, 2]),
      contentType: 'image/png',
    })
  })

  it('maps the sandbox error envelope, FILE_NOT_FOUND included', async () => {
    const { client } = clientAnswering(() =>
      Response.json(
        { error: { code: 'FILE_NOT_FOUND', message: 'No such file' } },
        { status: 404 },
      ),
    )
    await expect(client.readFile('ctx-1', 'missing')).rejects.toMatchObject({
      code: 'FILE_NOT_FOUND',
      details: { status: 404 },
    })
  })
})
