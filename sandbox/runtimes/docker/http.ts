import net from 'node:net'
import { ServerConnection } from '@jupyterlab/services'
import { Agent, type RequestInit, fetch as socketFetch } from 'undici'
import WebSocket from 'ws'

/** A request on which nothing moves this long fails: a stopped or stuck container never hangs us. */
const IDLE_TIMEOUT_MS = 60_000

/**
 * HTTP and WebSockets to a Jupyter Server that listens on a UNIX socket: a context container's.
 * The container publishes no port and may have no network at all; the socket lies in a directory
 * the service shares with it. The swarm runtime gives a TCP address on its internal overlay
 * network instead (a task on another node shares no directory with the service).
 */
export class UnixSocketClient {
  /** Keeps connections to the socket open between requests. */
  private readonly agent: Agent

  /** Where requests go: `localhost` over the socket, or the TCP address. */
  private readonly origin: string

  /**
   * @param target - the socket as this process sees it, or a TCP address
   * @param token - the Jupyter Server's token, sent in the Authorization header
   */
  constructor(
    readonly target: string | { host: string; port: number },
    private readonly token: string,
  ) {
    const socketPath = typeof target === 'string' ? target : undefined
    this.origin = typeof target === 'string' ? 'localhost' : `${target.host}:${target.port}`
    this.agent = new Agent({
      ...(socketPath ? { connect: { socketPath } } : {}),
      headersTimeout: IDLE_TIMEOUT_MS,
      bodyTimeout: IDLE_TIMEOUT_MS,
    })
  }

  /** Settings for @jupyterlab/services: its REST calls and kernel WebSockets go over the socket. */
  settings(): ServerConnection.ISettings {
    const { target } = this
    class UnixWebSocket extends WebSocket {
      constructor(url: string | URL, protocols?: string | string[]) {
        super(url, protocols, {
          ...(typeof target === 'string' ? { createConnection: () => net.connect(target) } : {}),
          handshakeTimeout: 10_000,
        })
      }
    }
    return ServerConnection.makeSettings({
      // "localhost" passes Jupyter's Host check; the name never resolves, the socket is used.
      baseUrl: `http://${this.origin}/`,
      wsUrl: `ws://${this.origin}/`,
      token: this.token,
      // Kernel WebSockets carry no headers of ours: the token goes in their URL.
      appendToken: true,
      WebSocket: UnixWebSocket as unknown as typeof globalThis.WebSocket,
      // The library hands over a global Request; undici's fetch takes its parts.
      fetch: async (input: string | URL | Request, init?: globalThis.RequestInit) => {
        const request = new Request(input, init)
        const url = new URL(request.url)
        return this.fetch(url.pathname + url.search, {
          method: request.method,
          headers: Object.fromEntries(request.headers),
          body: request.body ? Buffer.from(await request.arrayBuffer()) : undefined,
          signal: request.signal,
        })
      },
    })
  }

  /**
   * One request to the container's Jupyter Server, with its token.
   * @param path - path and query, e.g. `/api/status`
   * @param init - a streamed body (an async iterable) is sent chunked
   */
  async fetch(path: string, init: RequestInit = {}): Promise<Response> {
    const response = await socketFetch(`http://${this.origin}${path}`, {
      ...init,
      headers: {
        ...(init.headers as Record<string, string>),
        authorization: `token ${this.token}`,
      },
      ...(init.body && typeof init.body === 'object' && Symbol.asyncIterator in init.body
        ? { duplex: 'half' }
        : {}),
      dispatcher: this.agent,
    })
    return response as unknown as Response
  }

  /** Closes the connections. */
  close(): void {
    void this.agent.close().catch(() => undefined)
  }
}
