/**
 * The floor for an execute round trip, measured from Node: the same kernel launcher the service
 * uses, driven over raw ZMQ (no Jupyter Server, WebSocket or HTTP) by a minimal client that sends
 * execute_request on the shell socket and waits for the reply and the idle status on IOPub, as the
 * service does. Node rather than jupyter_client, whose Python client is slower than the whole
 * Jupyter WebSocket path and so no floor at all.
 */
import { spawn } from 'node:child_process'
import { createHmac, randomBytes, randomUUID } from 'node:crypto'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { createServer } from 'node:net'
import os from 'node:os'
import path from 'node:path'
import { Dealer, Subscriber } from 'zeromq'

const DELIMITER = '<IDS|MSG>'

type Frames = Buffer[]

async function freePort(): Promise<number> {
  const server = createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as { port: number }
  await new Promise((resolve) => server.close(resolve))
  return port
}

/** Starts `argv` (with `{connection_file}`) as a kernel and returns a client for its execute. */
export async function startRawKernel([command, ...args]: [string, ...string[]]) {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'sci-floor-'))
  const key = randomBytes(16).toString('hex')
  const ports = {
    shell_port: await freePort(),
    iopub_port: await freePort(),
    stdin_port: await freePort(),
    control_port: await freePort(),
    hb_port: await freePort(),
  }
  const connectionFile = path.join(dir, 'kernel.json')
  await writeFile(
    connectionFile,
    JSON.stringify({
      ...ports,
      ip: '127.0.0.1',
      transport: 'tcp',
      key,
      signature_scheme: 'hmac-sha256',
    }),
  )
  const child = spawn(
    command,
    args.map((arg) => arg.replace('{connection_file}', connectionFile)),
    { stdio: 'ignore', env: { ...process.env, HOME: dir } },
  )
  const shell = new Dealer()
  const iopub = new Subscriber()
  shell.connect(`tcp://127.0.0.1:${ports.shell_port}`)
  iopub.connect(`tcp://127.0.0.1:${ports.iopub_port}`)
  iopub.subscribe()
  const session = randomUUID()

  const send = async (msgId: string, msgType: string, content: object) => {
    const parts = [
      { msg_id: msgId, msg_type: msgType, session, username: 'floor', date: '', version: '5.3' },
      {},
      {},
      content,
    ].map((part) => JSON.stringify(part))
    const hmac = createHmac('sha256', key)
    for (const part of parts) hmac.update(part)
    await shell.send([DELIMITER, hmac.digest('hex'), ...parts])
  }
  const parentOf = (frames: Frames) => {
    const at = frames.findIndex((frame) => frame.toString() === DELIMITER)
    const part = (offset: number) => JSON.parse(String(frames[at + offset]))
    return {
      type: part(2).msg_type as string,
      parentId: part(3).msg_id as string | undefined,
      content: part(5),
    }
  }
  // One reader per socket (zeromq allows no concurrent receives); a request is done once both
  // its reply and its idle status arrived.
  const pending = new Map<string, { seen: number; done: () => void }>()
  const arrived = (msgId: string | undefined) => {
    const waiter = msgId === undefined ? undefined : pending.get(msgId)
    if (waiter && ++waiter.seen === 2) {
      pending.delete(msgId as string)
      waiter.done()
    }
  }
  const readShell = async () => {
    for await (const frames of shell) arrived(parentOf(frames).parentId)
  }
  const readIopub = async () => {
    for await (const frames of iopub) {
      const { type, parentId, content } = parentOf(frames)
      if (type === 'status' && content.execution_state === 'idle') arrived(parentId)
    }
  }
  const readers = Promise.allSettled([readShell(), readIopub()])
  const request = async (msgType: string, content: object) => {
    const msgId = randomUUID()
    const done = new Promise<void>((resolve) => pending.set(msgId, { seen: 0, done: resolve }))
    await send(msgId, msgType, content)
    await done
  }

  // Ready once a kernel_info round trip completes (IOPub subscriptions join late: retry).
  for (let ready = false; !ready; ) {
    ready = await Promise.race([
      request('kernel_info_request', {}).then(() => true),
      new Promise<boolean>((resolve) => setTimeout(() => resolve(false), 500)),
    ])
  }
  return {
    execute: (code: string) =>
      request('execute_request', {
        code,
        silent: false,
        store_history: true,
        user_expressions: {},
        allow_stdin: false,
        stop_on_error: false,
      }),
    async close() {
      shell.close()
      iopub.close()
      await readers
      child.kill('SIGKILL')
      await rm(dir, { recursive: true, force: true })
    },
  }
}
