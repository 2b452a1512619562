/**
 * Embedded mode: no SANDBOX_BASE_URL, so `sandbox-mcp` runs the sandbox (Jupyter, kernels) inside
 * its own process, as Claude Desktop launches it.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  type Connected,
  call,
  connectStdio,
  type HttpServerProcess,
  startHttpServer,
} from './helpers.js'
import { describeTools } from './tool-suite.js'

describe('stdio, embedded sandbox', () => {
  let connection: Connected
  beforeAll(async () => {
    connection = await connectStdio()
  })
  afterAll(() => connection?.close())

  describeTools(() => connection.client)
})

describe('Streamable HTTP, embedded sandbox', () => {
  let server: HttpServerProcess
  beforeAll(async () => {
    server = await startHttpServer()
  })
  afterAll(() => server?.close())

  it('runs code with state across calls', async () => {
    await using session = await server.connect()
    await call(session.client, 'run_code', { code: 'x = 100' })
    const { json } = await call(session.client, 'run_code', { code: 'print(x)' })
    expect(json).toMatchObject({ success: true, stdout: '100\n' })
  })
})
