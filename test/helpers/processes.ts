import { readdirSync, readFileSync } from 'node:fs'

type Proc = { pid: number; ppid: number; cmdline: string }

function processes(): Proc[] {
  const result: Proc[] = []
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8')
      // Fields after the parenthesised command name: state, ppid, …
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1])
      const cmdline = readFileSync(`/proc/${entry}/cmdline`, 'utf8').replaceAll('\0', ' ')
      result.push({ pid: Number(entry), ppid, cmdline })
    } catch {
      // The process exited while we looked.
    }
  }
  return result
}

/** Every live process below `root`, with its command line. */
export function descendants(root: number): Proc[] {
  const all = processes()
  const found: Proc[] = []
  const parents = new Set([root])
  for (let grew = true; grew; ) {
    grew = false
    for (const proc of all) {
      if (parents.has(proc.ppid) && !parents.has(proc.pid)) {
        parents.add(proc.pid)
        found.push(proc)
        grew = true
      }
    }
  }
  return found
}

/** True while `pid` exists and is not a zombie. */
export function isAlive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z'
  } catch {
    return false
  }
}

/** Polls `check` every 50 ms until it holds. @throws Error after `ms` */
export async function until(check: () => Promise<boolean> | boolean, ms = 20_000): Promise<void> {
  const deadline = Date.now() + ms
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error('condition not met in time')
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
}
