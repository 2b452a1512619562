/**
 * The client of the Jupyter Server's one-shot runner endpoint (`POST sci/runs`, served next to the
 * kernel template): the template forks a process that runs one cell through ipykernel's own
 * execute code and exits, and the server streams its kernel messages back as NDJSON. No kernel,
 * ZMQ or WebSocket is involved, and the process is never reused.
 */
import http from 'node:http'
import type { Readable } from 'node:stream'
import type { ServerConnection } from '@jupyterlab/services'
import { z } from 'zod'
import { SandboxError } from '../errors.js'

/** What one run needs; paths are absolute and under the Jupyter Server's root. */
export type RunRequest = {
  code: string
  /** The run's working dir; with kernel uids owned by the uid `home` belongs to. */
  cwd: string
  /** With kernel uids: the uid's home, whose owner the run runs as; null when kernels share a uid. */
  home: string | null
  /** Past it the server sends `sci_timeout` and interrupts the run's process group. */
  timeoutMs: number
  /** How long an interrupted run may take to exit before the server kills its process group. */
  graceMs: number
}

/**
 * One line of a run's stream: a kernel message of the runner (`stream`, `execute_result`, `error`,
 * `execute_reply`, …, with the content a kernel sends), then possibly `sci_timeout`, and always
 * last `sci_exit` with the runner's exit status (negative: the signal that killed it).
 */
const RunMessage = z.object({ msg_type: z.string(), content: z.record(z.string(), z.unknown()) })
export type RunMessage = z.infer<typeof RunMessage>

/**
 * A run the server took, as its message stream; or `unavailable` when the template cannot run
 * code now (off, starting, dead, fork failed): nothing ran, run it elsewhere.
 */
export type RunStart =
  | { kind: 'unavailable'; reason: string }
  | { kind: 'running'; messages: AsyncIterable<RunMessage> }

/**
 * Starts a run and returns its message stream once the server accepted it.
 * @param signal - aborting it (before or during the stream) makes the server kill the run at once
 * @throws SandboxError INTERNAL when the server refuses the request itself (a bug on our side)
 */
export async function startRun(
  settings: ServerConnection.ISettings,
  request: RunRequest,
  signal: AbortSignal,
): Promise<RunStart> {
  const body = JSON.stringify({
    code: request.code,
    cwd: request.cwd,
    home: request.home,
    timeout_ms: request.timeoutMs,
    grace_ms: request.graceMs,
  })
  // node:http rather than fetch: undici's 300 s body timeout would cut a quiet run of 10 minutes.
  const response = await new Promise<http.IncomingMessage>((resolve, reject) => {
    const sent = http.request(new URL('sci/runs', settings.baseUrl), {
      method: 'POST',
      headers: {
        Authorization: `token ${settings.token}`,
        'Content-Type': 'application/json',
        'Content-Length': Buffer.byteLength(body),
      },
      signal,
    })
    sent.once('response', resolve).once('error', reject)
    sent.end(body)
  })
  if (response.statusCode === 200) return { kind: 'running', messages: runMessages(response) }
  const message = await errorMessage(response)
  if (response.statusCode === 503) return { kind: 'unavailable', reason: message }
  throw new SandboxError(
    'INTERNAL',
    `The Jupyter Server refused a one-shot run (HTTP ${response.statusCode}): ${message}`,
  )
}

/**
 * A run's NDJSON body as messages, one per line; a line may span chunks (an image is one line of
 * about 1.4 MB) and a character may span two.
 */
export async function* runMessages(body: Readable): AsyncGenerator<RunMessage> {
  body.setEncoding('utf8')
  let pending = ''
  for await (const chunk of body as AsyncIterable<string>) {
    const parts = chunk.split('\n')
    const last = parts.pop() ?? ''
    for (const part of parts) {
      const line = pending + part
      pending = ''
      if (line.trim()) yield RunMessage.parse(JSON.parse(line))
    }
    pending += last
  }
  if (pending.trim()) yield RunMessage.parse(JSON.parse(pending))
}

/** The `message` of a JSON error body, or the body's start when it is something else. */
async function errorMessage(response: http.IncomingMessage): Promise<string> {
  response.setEncoding('utf8')
  let text = ''
  for await (const chunk of response as AsyncIterable<string>) text += chunk
  try {
    const { message } = JSON.parse(text) as { message?: unknown }
    if (typeof message === 'string') return message
  } catch {
    // Not JSON (a proxy's or tornado's default page): show what it is.
  }
  return text.slice(0, 200)
}
