/**
 * The docker runtime's gVisor option without an engine: parsing SANDBOX_DOCKER_OCI_RUNTIME, which
 * limits a warm container can take under each OCI runtime, and the relay's reading of Docker's
 * multiplexed exec stream (split at any byte, as a socket may deliver it). The relay itself, over
 * a real engine, is what every docker suite runs through under runsc.
 */
import { PassThrough } from 'node:stream'
import { describe, expect, it } from 'vitest'
import { DockerEnvSchema, dockerConfig } from '../../sandbox/runtimes/docker/config.js'
import { planLimits } from '../../sandbox/runtimes/docker/limits.js'
import { Demux } from '../../sandbox/runtimes/docker/relay.js'

const configOf = (env: Record<string, string>) => dockerConfig(DockerEnvSchema.parse(env))

describe('SANDBOX_DOCKER_OCI_RUNTIME', () => {
  it('defaults to runc, takes runsc, refuses anything else naming the variable', () => {
    expect(configOf({}).ociRuntime).toBe('runc')
    expect(configOf({ SANDBOX_DOCKER_OCI_RUNTIME: 'runsc' }).ociRuntime).toBe('runsc')
    expect(() => configOf({ SANDBOX_DOCKER_OCI_RUNTIME: 'kata' })).toThrow(
      /SANDBOX_DOCKER_OCI_RUNTIME/,
    )
  })

  it('under runsc, other memory, CPUs or pids need a fresh container (runsc cannot update one)', () => {
    const runc = configOf({})
    const runsc = configOf({ SANDBOX_DOCKER_OCI_RUNTIME: 'runsc' })
    for (const limits of [{ memory_mb: 1024 }, { cpus: 0.5 }, { pids: 300 }]) {
      expect(planLimits(runc, limits).poolable).toBe(true)
      expect(planLimits(runsc, limits).poolable).toBe(false)
    }
    expect(planLimits(runsc, undefined).poolable).toBe(true)
    expect(planLimits(runsc, { memory_mb: runsc.defaults.memoryMb }).poolable).toBe(true)
    expect(planLimits(runsc, { workspace_mb: 100 }).poolable).toBe(false)
  })
})

function frame(type: 1 | 2, payload: string): Buffer {
  const body = Buffer.from(payload)
  const header = Buffer.alloc(8)
  header[0] = type
  header.writeUInt32BE(body.length, 4)
  return Buffer.concat([header, body])
}

async function demux(chunks: Buffer[]): Promise<{ stdout: string; stderr: string }> {
  let stderr = ''
  const source = new PassThrough()
  const out = source.pipe(new Demux((text) => (stderr += text)))
  const received: Buffer[] = []
  out.on('data', (chunk: Buffer) => received.push(chunk))
  const ended = new Promise((resolve, reject) => out.on('end', resolve).on('error', reject))
  for (const chunk of chunks) source.write(chunk)
  source.end()
  await ended
  return { stdout: Buffer.concat(received).toString(), stderr }
}

describe('relay: Docker exec stream', () => {
  const stream = Buffer.concat([
    frame(1, 'HTTP/1.1 200 OK\r\n'),
    frame(2, 'relay: a warning'),
    frame(1, ''),
    frame(1, 'x'.repeat(70_000)),
  ])

  it('passes stdout on and stderr aside, however the bytes are split', async () => {
    const expected = {
      stdout: `HTTP/1.1 200 OK\r\n${'x'.repeat(70_000)}`,
      stderr: 'relay: a warning',
    }
    expect(await demux([stream])).toEqual(expected)
    for (const at of [1, 7, 8, 9, 20, 30, 40_000]) {
      expect(await demux([stream.subarray(0, at), stream.subarray(at)])).toEqual(expected)
    }
    const bytes = [...stream].map((byte) => Buffer.from([byte]))
    expect(await demux(bytes.slice(0, 200).concat([stream.subarray(200)]))).toEqual(expected)
  })

  it('fails on a stream that is not multiplexed instead of passing garbage on', async () => {
    await expect(demux([Buffer.from('HTTP/1.1 200 OK\r\n\r\n')])).rejects.toThrow(/multiplexed/)
  })
})
