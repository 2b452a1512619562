import { type ChildProcessByStdio, spawn } from 'node:child_process'
import { once } from 'node:events'
import path from 'node:path'
import { createInterface } from 'node:readline'
import type { Readable, Writable } from 'node:stream'
import { PACKAGE_ROOT } from '../../jupyter/kernelspecs.js'

const REAPER_PATH = path.join(PACKAGE_ROOT, 'sandbox/runtimes/process/assets/uid_reaper.py')

const CLOSE_GRACE_MS = 5_000

type Request = { kill: number } | { clean: number; home: string }

/**
 * The service's end of assets/uid_reaper.py, a small root process that kills every process of a
 * kernel uid (kill(-1) as that uid) and removes what the uid left behind. One per KernelUids,
 * started by its first request and again by the next one after it died; requests are answered in
 * order. Owns its process: close() ends it.
 */
export class UidReaper {
  private current: Reaper | undefined
  private closed = false

  constructor(private readonly python: string) {}

  /** Kills every process of `uid`. */
  kill(uid: number): Promise<void> {
    return this.request({ kill: uid })
  }

  /** Kills every process of `uid`, then removes its home and its entries in the shared temp dirs. */
  clean(uid: number, home: string): Promise<void> {
    return this.request({ clean: uid, home })
  }

  async close(): Promise<void> {
    this.closed = true
    const child = this.current?.child
    if (!child || child.exitCode !== null || child.signalCode !== null) return
    const exited = once(child, 'exit')
    child.stdin.end()
    // It ends once the request at hand is done; one stuck on a huge tree must not hold shutdown.
    const timer = setTimeout(() => child.kill('SIGKILL'), CLOSE_GRACE_MS)
    try {
      await exited
    } finally {
      clearTimeout(timer)
    }
  }

  private request(request: Request): Promise<void> {
    if (this.closed) return Promise.reject(new Error('uid reaper closed'))
    const reaper = this.running()
    return new Promise((resolve, reject) => {
      reaper.waiting.push({ resolve, reject })
      reaper.child.stdin.write(`${JSON.stringify(request)}\n`)
    })
  }

  private running(): Reaper {
    if (this.current) return this.current
    const child = spawn(this.python, ['-I', '-S', REAPER_PATH], {
      stdio: ['pipe', 'pipe', 'inherit'],
      env: {},
    })
    const reaper: Reaper = { child, waiting: [] }
    this.current = reaper
    createInterface({ input: child.stdout }).on('line', (line) => {
      const waiter = reaper.waiting.shift()
      if (line === 'ok') waiter?.resolve()
      else waiter?.reject(new Error(`uid reaper: ${line.replace(/^error /, '')}`))
    })
    const fail = (why: string) => {
      if (this.current === reaper) this.current = undefined
      for (const waiter of reaper.waiting.splice(0)) waiter.reject(new Error(`uid reaper ${why}`))
    }
    child.on('error', (error) => fail(`failed: ${error.message}`))
    child.on('exit', (code, signal) => fail(`exited (${signal ?? code})`))
    child.stdin.on('error', () => undefined) // its exit rejects what waits
    return reaper
  }
}

type Reaper = {
  child: ChildProcessByStdio<Writable, Readable, null>
  waiting: Array<{ resolve: () => void; reject: (error: Error) => void }>
}
