import { describe, expect, it } from 'vitest'
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
