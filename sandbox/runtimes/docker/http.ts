import http from 'node:http'
import net from 'node:net'
import { Readable } from 'node:stream'
import { ServerConnection } from '@jupyterlab/services'
import WebSocket from 'ws'
import { SandboxError } from '../../errors.js'

/** A request on which nothing moves this long fails: a stopped or stuck container never hangs us. */
const IDLE_TIMEOUT_MS = 60_000

/**
 * HTTP and WebSockets to a Jupyter Server that listens on a UNIX socket: a context container's.
 * The container publishes no port and may have no network at all; the socket lies in a directory
 * the service shares with it.
 */
export class UnixSocketClient {
  /** Keeps connections open between requests (one agent per container socket). */
  private readonly agent = new http.Agent({ keepAlive: true, maxSockets: 16 })

  /**
   * @param socketPath - the socket as this process sees it
   * @param token - the Jupyter Server's token, sent in the Authorization header
   */
  constructor(
    readonly socketPath: string,
    private readonly token: string,
  ) {}

  /** Settings for @jupyterlab/services: its REST calls and kernel WebSockets go over the socket. */
  settings(): ServerConnection.ISettings {
    const socketPath = this.socketPath
    class UnixWebSocket extends WebSocket {
      constructor(url: string | URL, protocols?: string | string[]) {
        super(url, protocols, {
          createConnection: () => net.connect(socketPath),
          handshakeTimeout: 10_000,
        })
      }
    }
    return ServerConnection.makeSettings({
      // "localhost" passes Jupyter's Host check; the name never resolves, the socket is used.
      baseUrl: 'http://localhost/',
      wsUrl: 'ws://localhost/',
      token: this.token,
      // Kernel WebSockets carry no headers of ours: the token goes in their URL.
      appendToken: true,
      WebSocket: UnixWebSocket as unknown as typeof globalThis.WebSocket,
      fetch: (input: string | URL | Request, init?: RequestInit) =>
        this.fetch(new Request(input, init)),
    })
  }

  /**
   * One request; resolves with the response head, its body unread (a stream).
   * @param body - sent chunked when it is a stream
   */
  request(options: {
    method: string
    path: string
    body?: Buffer | AsyncIterable<Uint8Array>
    headers?: Record<string, string>
    signal?: AbortSignal
  }): Promise<http.IncomingMessage> {
    const { method, path, body, headers = {}, signal } = options
    return new Promise((resolve, reject) => {
      const request = http.request({
        socketPath: this.socketPath,
        agent: this.agent,
        method,
        path,
        headers: { host: 'localhost', authorization: `token ${this.token}`, ...headers },
        signal,
      })
      request.setTimeout(IDLE_TIMEOUT_MS, () =>
        request.destroy(
          new SandboxError(
            'UNAVAILABLE',
            `The context's Jupyter Server did not answer for ${IDLE_TIMEOUT_MS / 1000} s`,
          ),
        ),
      )
      request.once('response', resolve)
      request.once('error', reject)
      if (body === undefined) request.end()
      else if (Buffer.isBuffer(body)) request.end(body)
      else
        Readable.from(body)
          .once('error', (error) => request.destroy(error))
          .pipe(request)
    })
  }

  /** Closes idle connections. */
  close(): void {
    this.agent.destroy()
  }

  /** A WHATWG fetch over the socket, for @jupyterlab/services (small JSON bodies). */
  private async fetch(request: Request): Promise<Response> {
    const url = new URL(request.url)
    const body = request.body ? Buffer.from(await request.arrayBuffer()) : undefined
    const headers: Record<string, string> = {}
    request.headers.forEach((value, key) => {
      headers[key] = value
    })
    const response = await this.request({
      method: request.method,
      path: url.pathname + url.search,
      body,
      headers,
      signal: request.signal,
    })
    const status = response.statusCode ?? 500
    const responseHeaders = new Headers()
    for (const [key, value] of Object.entries(response.headers)) {
      if (value !== undefined)
        responseHeaders.set(key, Array.isArray(value) ? value.join(', ') : value)
    }
    const nullBody = status === 204 || status === 304 || request.method === 'HEAD'
    if (nullBody) response.resume()
    return new Response(nullBody ? null : (Readable.toWeb(response) as ReadableStream), {
      status,
      headers: responseHeaders,
    })
  }
}

/** Reads a whole (small) response body as text. */
export async function readText(response: http.IncomingMessage): Promise<string> {
  const chunks: Buffer[] = []
  for await (const chunk of response) chunks.push(chunk as Buffer)
  return Buffer.concat(chunks).toString('utf8')
}
