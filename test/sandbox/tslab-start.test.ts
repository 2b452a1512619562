/**
 * How a tslab (JavaScript/TypeScript) kernel starts (issue 12, item 5): each phase reaches the
 * service's log with its time, so a start that hangs says where; and a kernel whose socket cannot
 * bind exits at once, before the slow part of its start, so that Jupyter restarts it on new ports,
 * instead of living on deaf until the start times out.
 */
import { spawn } from 'node:child_process'
import { mkdtemp, rm } from 'node:fs/promises'
import net from 'node:net'
import os from 'node:os'
import path from 'node:path'
import { Writable } from 'node:stream'
import pino from 'pino'
import { afterAll, beforeAll, expect, it, vi } from 'vitest'
import { JupyterKernel } from '../../sandbox/jupyter/kernel.js'
import { ASSETS_DIR, KERNEL_SPEC } from '../../sandbox/jupyter/kernelspecs.js'
import { startJupyterServer, writeConnectionFile } from '../helpers/jupyter.js'

let dir: string

beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'sci-tslab-start-test-'))
})
afterAll(async () => {
  await rm(dir, { recursive: true, force: true })
})

it('logs every start phase of a JavaScript kernel, in order, through the service logger', async () => {
  const entries: { kernel?: string; phase?: string; ms?: string; msg: string }[] = []
  const sink = new Writable({
    write(chunk, _encoding, done) {
      entries.push(JSON.parse(String(chunk)))
      done()
    },
  })
  const log = pino({ level: 'debug' }, sink)
  const server = await startJupyterServer(dir, log)
  try {
    const kernel = await JupyterKernel.start({
      language: 'javascript',
      spec: KERNEL_SPEC.javascript,
      settings: server.settings,
      log,
      signal: AbortSignal.timeout(60_000),
    })
    // A slow start (a loaded machine) also logs `waiting` every 10 s: not a phase.
    const passed = () =>
      entries.filter((entry) => entry.kernel === kernel.id && entry.phase !== 'waiting')
    const phases = () => passed().map((entry) => entry.phase)
    try {
      await vi.waitFor(() => expect(phases()).toContain('ready'), { timeout: 10_000 })
    } finally {
      await kernel.shutdown()
    }
    expect(phases()).toEqual([
      'node',
      'zeromq',
      'typescript',
      'tslab',
      'bound',
      'links',
      'converter',
      'ready',
    ])
    const times = passed().map((entry) => Number(entry.ms))
    expect(times).toEqual([...times].sort((a, b) => a - b))
  } finally {
    await server.close()
  }
})

it('ends a JavaScript kernel whose port is taken, naming the port, instead of leaving it deaf', async () => {
  const taken = net.createServer()
  await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve))
  const address = taken.address()
  if (!address || typeof address === 'string') throw new Error('no port')
  const connectionFile = path.join(dir, 'kernel-port-taken.json')
  await writeConnectionFile(connectionFile, KERNEL_SPEC.javascript, { shell_port: address.port })
  const child = spawn(
    process.execPath,
    [path.join(ASSETS_DIR, 'tslab_kernel.cjs'), connectionFile, '--js'],
    { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] },
  )
  let stderr = ''
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
    stderr += chunk
  })
  try {
    const code = await new Promise((resolve) => child.once('exit', resolve))
    expect(code).toBe(1)
    expect(stderr).toMatch(
      new RegExp(`phase=failed .*detail=EADDRINUSE_tcp://127.0.0.1:${address.port}`),
    )
    // Before TypeScript's first program, the slow part, so that Jupyter still counts the death
    // as part of the start and picks new ports.
    expect(stderr).not.toContain('phase=converter')
  } finally {
    child.kill('SIGKILL')
    taken.close()
  }
})
