/**
 * A kernel that died comes back even if another process took one of its ports meanwhile: Jupyter
 * restarts a kernel on the ports it had, and jupyter_client 7.4 kept them even when it meant to
 * pick new ones, so every restart failed alike and the kernel was given up for dead
 * (sci_kernel_ports.py). Any free port can be taken, by an outgoing connection for one.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import net from 'node:net'
import os from 'node:os'
import path from 'node:path'
import pino from 'pino'
import { expect, it, vi } from 'vitest'
import { JupyterKernel } from '../../sandbox/jupyter/kernel.js'
import { KERNEL_SPEC } from '../../sandbox/jupyter/kernelspecs.js'
import { startJupyterServer } from '../helpers/jupyter.js'
import { descendants, isAlive } from '../helpers/processes.js'

const log = pino({ level: 'silent' })

it.each(['python', 'javascript'] as const)(
  'restarts a dead %s kernel on new ports when one of its own was taken meanwhile',
  async (language) => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'sci-kernel-ports-test-'))
    const server = await startJupyterServer(dir, log)
    const taken = net.createServer()
    try {
      const first = await JupyterKernel.start({
        language,
        spec: KERNEL_SPEC[language],
        settings: server.settings,
        log,
        signal: AbortSignal.timeout(60_000),
      })
      const kernelProcess = () =>
        descendants(server.pid ?? 0).find((p) => p.cmdline.includes(first.id))
      const dead = kernelProcess()
      const connectionFile = /(\S+kernel-\S+\.json)/.exec(dead?.cmdline ?? '')?.[1] ?? ''
      const { shell_port: port } = JSON.parse(await readFile(connectionFile, 'utf8'))
      first.detach()

      process.kill(dead?.pid ?? 0, 'SIGKILL')
      await vi.waitFor(() => expect(isAlive(dead?.pid ?? 0)).toBe(false), { interval: 5 })
      // The leader shows as a zombie while the kernel's other threads, and so its sockets, may
      // still be closing: retry until the port is free (a restart takes far longer).
      await vi.waitFor(
        () =>
          new Promise<void>((resolve, reject) => {
            taken.once('error', reject)
            taken.listen(port, '127.0.0.1', () => {
              taken.off('error', reject)
              resolve()
            })
          }),
        { interval: 5, timeout: 2_000 },
      )

      await vi.waitFor(() => expect(kernelProcess()?.pid ?? dead?.pid).not.toBe(dead?.pid), {
        timeout: 30_000,
      })
      const restarted = await JupyterKernel.connect({
        language,
        id: first.id,
        settings: server.settings,
        log,
        signal: AbortSignal.timeout(60_000),
      })
      try {
        const reply = await restarted.execute('1+1', () => {})
        expect(reply.status).toBe('ok')
      } finally {
        await restarted.shutdown()
      }
    } finally {
      taken.close()
      await server.close()
      await rm(dir, { recursive: true, force: true })
    }
  },
)
