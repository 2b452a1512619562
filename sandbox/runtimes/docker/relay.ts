import { rm } from 'node:fs/promises'
import net from 'node:net'
import type { Duplex } from 'node:stream'
import { Transform, type TransformCallback } from 'node:stream'
import type { Logger } from 'pino'
import type { DockerEngine } from './engine.js'

export type ExecRelayOptions = {
  engine: DockerEngine
  containerId: string
  /** The local UNIX socket to listen on (service side; never shared with the container). */
  socketPath: string
  /** Jupyter's socket inside the container. */
  target: string
  /** The container's user, `uid:gid`. */
  user: string
  /** assets/relay.py. */
  relaySource: string
  log: Logger
}

/**
 * A local UNIX socket whose every connection is relayed to the container's Jupyter socket over
 * the stdio of a `docker exec` (the Engine API's exec, its stream hijacked): the channel to a
 * container whose own sockets the host cannot reach (gVisor). The service's HTTP client and kernel
 * WebSockets connect here as they would to the socket itself. One exec per connection; HTTP
 * connections are kept alive, so execs are made when connections are, not per request.
 * Owned by its container: close() ends every relayed connection and removes the socket.
 */
export class ExecRelay {
  private readonly live = new Set<Duplex>()
  private closed = false

  private constructor(
    private readonly server: net.Server,
    private readonly options: ExecRelayOptions,
  ) {
    server.on('connection', (client) => this.relay(client))
  }

  static async listen(options: ExecRelayOptions): Promise<ExecRelay> {
    await rm(options.socketPath, { force: true })
    const server = net.createServer({ allowHalfOpen: true })
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject)
      server.listen(options.socketPath, () => {
        server.off('error', reject)
        resolve()
      })
    })
    return new ExecRelay(server, options)
  }

  /** Stops listening and ends every relayed connection (their execs end with their stdin). */
  async close(): Promise<void> {
    if (this.closed) return
    this.closed = true
    for (const stream of this.live) stream.destroy()
    this.live.clear()
    await new Promise<void>((resolve) => this.server.close(() => resolve()))
    await rm(this.options.socketPath, { force: true })
  }

  private relay(client: net.Socket): void {
    const { engine, containerId, target, user, relaySource, log } = this.options
    this.live.add(client)
    client.once('close', () => this.live.delete(client))
    client.pause()
    engine
      .execStream(containerId, ['/usr/bin/python3', '-I', '-S', '-c', relaySource, target], user)
      .then((exec) => {
        if (this.closed || client.destroyed) {
          exec.destroy()
          return
        }
        this.live.add(exec)
        exec.once('close', () => {
          this.live.delete(exec)
          client.destroy()
        })
        client.once('close', () => exec.destroy())
        exec.on('error', () => client.destroy())
        client.on('error', () => exec.destroy())
        // Client → relay's stdin, raw; its end half-closes the exec's stdin.
        client.pipe(exec)
        // The exec's output is framed (stdout and stderr multiplexed): its stdout is the answer.
        exec
          .pipe(new Demux((line) => log.debug({ containerId, relay: line }, 'relay stderr')))
          .on('error', () => client.destroy())
          .pipe(client)
        client.resume()
      })
      .catch((error: unknown) => {
        // The caller sees its connection closed; most often the container has just died.
        log.debug({ err: error, containerId }, 'relay: docker exec failed')
        client.destroy()
      })
  }
}

/**
 * Docker's multiplexed exec stream (8-byte header: stream type, 3 zero bytes, big-endian length)
 * to the bytes of stdout; stderr goes to `onStderr`. Backpressure passes through.
 */
export class Demux extends Transform {
  private pending = Buffer.alloc(0)

  constructor(private readonly onStderr: (text: string) => void) {
    super()
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, done: TransformCallback): void {
    let buffer = this.pending.length ? Buffer.concat([this.pending, chunk]) : chunk
    while (buffer.length >= 8) {
      const type = buffer[0]
      const length = buffer.readUInt32BE(4)
      if (type !== 1 && type !== 2) {
        done(new Error(`relay: not a multiplexed exec stream (type ${type})`))
        return
      }
      if (buffer.length < 8 + length) break
      const payload = buffer.subarray(8, 8 + length)
      if (type === 1) this.push(payload)
      else this.onStderr(payload.toString('utf8'))
      buffer = buffer.subarray(8 + length)
    }
    this.pending = Buffer.from(buffer)
    done()
  }
}
