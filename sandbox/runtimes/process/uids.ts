import { chmod, chown, lstat, mkdir, readFile, rm, unlink, writeFile } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import type { Logger } from 'pino'
import { SandboxError } from '../../errors.js'
import { UidReaper } from './uid-reaper.js'

/** A uid and gid (the same number) a kernel runs as. */
export type Owner = Readonly<{ uid: number; gid: number }>

/** How contexts of the process runtime are kept apart at OS level; shown in /metrics. */
export type IsolationLevel = 'uid' | 'shared-uid'

export type KernelUidSettings = Readonly<{
  mode: 'on' | 'off' | 'auto'
  /** First uid (and gid) of the range kernels run as. */
  start: number
  count: number
  /** Processes and threads each kernel uid may have (RLIMIT_NPROC); 0 = no limit. */
  nproc: number
}>

/**
 * What switching a kernel to another uid needs of the service: setuid and setgid for the switch,
 * chown for its home and working dir, DAC override and fowner to read, write and remove its files
 * (and its leftovers in sticky /tmp), kill for its strays. Bits of CapEff (linux/capability.h).
 */
const NEEDED_CAPS = { chown: 0, dac_override: 1, fowner: 3, kill: 5, setgid: 6, setuid: 7 }

/** Where kernel homes live, inside the Jupyter Server's root (kernels start in them). */
export const HOMES_DIR = '.kernel-homes'

/**
 * One file per uid in use, holding the pid of the service using it: services on one machine (tests
 * run several at once) never share a uid, and one that died leaves uids the next may take over.
 */
const CLAIMS_DIR = path.join(os.tmpdir(), 'sci-kernel-uids')

/**
 * The uids kernels of the process runtime run as: one per kernel, so one per context, each with a
 * fresh home (mode 0700) inside the workspace root. A uid comes back to the range only once every
 * process of it is killed and every file it left in its home and the shared temp dirs is gone;
 * the least recently freed uid goes out first.
 */
export class KernelUids {
  private readonly free: number[]
  private readonly homes: string
  private readonly reaper: UidReaper

  private constructor(
    private readonly settings: KernelUidSettings,
    workspaceRoot: string,
    python: string,
    private readonly log: Logger,
  ) {
    this.free = Array.from({ length: settings.count }, (_, index) => settings.start + index)
    this.homes = path.join(workspaceRoot, HOMES_DIR)
    this.reaper = new UidReaper(python)
  }

  /**
   * Decides once whether kernels get uids of their own, and says so in the log.
   * @returns the allocator, or undefined when kernels share the service's uid
   * @throws SandboxError UNAVAILABLE when `on` was asked for and the service cannot switch uids
   */
  static async open(
    settings: KernelUidSettings,
    workspaceRoot: string,
    python: string,
    log: Logger,
  ): Promise<KernelUids | undefined> {
    if (settings.mode === 'off') {
      log.warn(
        process.getuid?.() === 0
          ? 'kernel uids off (SANDBOX_KERNEL_UIDS=off) and the service runs as root: so do its kernels'
          : 'kernel uids off (SANDBOX_KERNEL_UIDS=off): contexts can reach each other',
      )
      return undefined
    }
    const missing = await missingPrivileges()
    if (missing.length > 0) {
      const why = `the service cannot switch uids (needs root with ${missing.join(', ')})`
      if (settings.mode === 'on')
        throw new SandboxError('UNAVAILABLE', `SANDBOX_KERNEL_UIDS=on but ${why}`)
      log.warn(
        `kernel uids off: ${why}; every kernel runs as the service's user and contexts can reach each other`,
      )
      return undefined
    }
    const uids = new KernelUids(settings, workspaceRoot, python, log)
    await mkdir(uids.homes, { recursive: true })
    await chmod(uids.homes, 0o711)
    await privateDir(CLAIMS_DIR)
    log.info(
      { first: settings.start, count: settings.count, nproc: settings.nproc },
      'kernel uids on: each context runs under a uid of its own',
    )
    return uids
  }

  /** "start:count:nproc", as the kernel provisioner reads it (sci_kernel_provisioner.py). */
  get spec(): string {
    return `${this.settings.start}:${this.settings.count}:${this.settings.nproc}`
  }

  /**
   * Takes a free uid and makes its home, where a kernel started runs as that uid.
   * @returns the owner and the home's path
   * @throws SandboxError LIMIT_EXCEEDED when every uid of the range is taken
   */
  async allocate(): Promise<{ owner: Owner; home: string }> {
    const { uid, takenOver } = await this.claim()
    const owner = { uid, gid: uid }
    const home = this.home(uid)
    try {
      // A uid released by us is clean; one a dead service held may still run its processes.
      if (takenOver) await this.clean(owner)
      else await rm(home, { recursive: true, force: true })
      await mkdir(home, { mode: 0o700 })
      await chown(home, uid, uid)
      return { owner, home }
    } catch (error) {
      await this.unclaim(uid)
      throw error
    }
  }

  /**
   * Kills every process of the uid, removes its home and its files in the shared temp dirs, then
   * frees it. A uid that could not be cleaned is kept out of the range (logged).
   */
  async release(owner: Owner): Promise<void> {
    try {
      await this.clean(owner)
      await this.unclaim(owner.uid)
    } catch (error) {
      this.log.error({ err: error, uid: owner.uid }, 'kernel uid not cleaned; not reused')
    }
  }

  /** Kills every process of the uid: kill(-1) as that uid, which forks cannot outrun. */
  killAll(owner: Owner): Promise<void> {
    return this.reaper.kill(owner.uid)
  }

  /** Ends the reaper; call once no kernel of the range is left to release. */
  close(): Promise<void> {
    return this.reaper.close()
  }

  private home(uid: number): string {
    return path.join(this.homes, String(uid))
  }

  private clean(owner: Owner): Promise<void> {
    return this.reaper.clean(owner.uid, this.home(owner.uid))
  }

  /** The first free uid no live service has claimed; a dead one's claim is taken over. */
  private async claim(): Promise<{ uid: number; takenOver: boolean }> {
    for (let tries = this.free.length; tries > 0; tries--) {
      const uid = this.free.shift() as number
      const file = path.join(CLAIMS_DIR, String(uid))
      for (let attempt = 0; attempt < 2; attempt++) {
        try {
          await writeFile(file, String(process.pid), { flag: 'wx', mode: 0o600 })
          return { uid, takenOver: attempt > 0 }
        } catch (error) {
          if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error
        }
        const holder = Number(await readFile(file, 'utf8').catch(() => ''))
        if (holder && holder !== process.pid && alive(holder)) break
        await unlink(file).catch(() => undefined)
      }
      this.free.push(uid)
    }
    throw new SandboxError(
      'LIMIT_EXCEEDED',
      'Every kernel uid is in use (SANDBOX_KERNEL_UID_COUNT)',
      { reason: 'contexts' },
    )
  }

  private async unclaim(uid: number): Promise<void> {
    await unlink(path.join(CLAIMS_DIR, String(uid))).catch(() => undefined)
    this.free.push(uid)
  }
}

/** The capabilities of NEEDED_CAPS the service lacks (all of them unless it runs as root). */
async function missingPrivileges(): Promise<string[]> {
  const names = Object.keys(NEEDED_CAPS)
  if (process.getuid?.() !== 0) return names
  const status = await readFile('/proc/self/status', 'utf8').catch(() => '')
  const effective = BigInt(`0x${/^CapEff:\s*([0-9a-f]+)/m.exec(status)?.[1] ?? '0'}`)
  return Object.entries(NEEDED_CAPS)
    .filter(([, bit]) => (effective & (1n << BigInt(bit))) === 0n)
    .map(([name]) => `CAP_${name.toUpperCase()}`)
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM'
  }
}

/** Makes `dir` or checks that it is a directory only this user can write to. */
async function privateDir(dir: string): Promise<void> {
  await mkdir(dir, { mode: 0o700 }).catch((error: NodeJS.ErrnoException) => {
    if (error.code !== 'EEXIST') throw error
  })
  const stat = await lstat(dir)
  if (!stat.isDirectory() || stat.uid !== process.getuid?.() || (stat.mode & 0o022) !== 0)
    throw new SandboxError('UNAVAILABLE', `${dir} is not a private directory of the service`)
}
