/** The one-shot runner's NDJSON stream as the service reads it (sandbox/jupyter/runs.ts). */
import { Readable } from 'node:stream'
import { describe, expect, it } from 'vitest'
import { runMessages } from '../../sandbox/jupyter/runs.js'

/** A response body that arrives in exactly these byte chunks. */
const body = (chunks: Buffer[]) => Readable.from(chunks, { objectMode: false })

const read = async (chunks: Buffer[]) => {
  const messages = []
  for await (const message of runMessages(body(chunks))) messages.push(message)
  return messages
}

describe('runMessages', () => {
  it('yields one message per line, whatever the chunks', async () => {
    const lines = [
      { msg_type: 'stream', content: { name: 'stdout', text: 'é ✓\n' } },
      { msg_type: 'execute_reply', content: { status: 'ok', execution_count: 1 } },
      { msg_type: 'sci_exit', content: { status: 0 } },
    ]
    const bytes = Buffer.from(`${lines.map((line) => JSON.stringify(line)).join('\n')}\n`)
    // Every split point, a multi-byte character's middle included.
    for (let at = 1; at < bytes.length; at++) {
      expect(await read([bytes.subarray(0, at), bytes.subarray(at)])).toEqual(lines)
    }
    expect(await read([...bytes].map((byte) => Buffer.from([byte])))).toEqual(lines)
  })

  it('reads a line of megabytes in small chunks, and a last line without its newline', async () => {
    const image = 'A'.repeat(1_400_000)
    const line = JSON.stringify({
      msg_type: 'display_data',
      content: { data: { 'image/png': image } },
    })
    const text = Buffer.from(`${line}\n{"msg_type":"sci_exit","content":{"status":-9}}`)
    const chunks = []
    for (let at = 0; at < text.length; at += 16_384) chunks.push(text.subarray(at, at + 16_384))
    const messages = await read(chunks)
    expect(messages.map((m) => m.msg_type)).toEqual(['display_data', 'sci_exit'])
    expect(messages[0]?.content).toEqual({ data: { 'image/png': image } })
    expect(messages[1]?.content).toEqual({ status: -9 })
  })

  it('refuses a line that is not a message', async () => {
    await expect(read([Buffer.from('{"content":{}}\n')])).rejects.toThrow()
    await expect(read([Buffer.from('not json\n')])).rejects.toThrow()
  })
})
