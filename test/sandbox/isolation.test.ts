/**
 * What the "process" runtime isolates between contexts: the shared suite
 * (test/shared/isolation.suite.ts), twice. With kernel uids on (these tests run as root, so the
 * service can switch uids) each context's kernel runs under a uid of its own and the file, signal,
 * connection-file and token attacks are blocked. With them off kernels share one uid, one Jupyter
 * runtime dir and one PID namespace: the same attacks are known limits, run for real, expected to
 * succeed and reported as expected failures.
 */
import { chmod, lstat, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { describe, expect, it } from 'vitest'
import type { Config } from '../../sandbox/config.js'
import { descendants } from '../helpers/processes.js'
import { API_KEY, describeIsolation, type IsolationFixture } from '../shared/isolation.suite.js'
import { createContext, exec, processRuntime, type RuntimeTarget } from '../shared/runtime.js'

const UIDS = { start: 210_000, count: 200, nproc: 64 }

function withUids(kernelUids: Config['kernelUids']): RuntimeTarget {
  return {
    ...processRuntime,
    start: (overrides = {}) => processRuntime.start({ ...overrides, kernelUids }),
  }
}

describeIsolation(withUids({ mode: 'on', ...UIDS }), {
  variant: 'kernel uids on',
  specific: uidCases,
})

describeIsolation(withUids({ mode: 'off', ...UIDS }), {
  variant: 'kernel uids off',
  knownLimits: {
    why: 'kernel uids off: one user, trusted agents; turn them on or use per-context containers',
    cases: ['F2', 'F3', 'F3-iopub', 'F4', 'F12'],
  },
})

/** The uid a context's kernel runs as, asked of the kernel itself. */
async function kernelUid(fixture: IsolationFixture, id: string): Promise<number> {
  const result = await exec(fixture.s, id, 'import os\nprint(os.getuid(), os.getgid())')
  const [uid, gid] = result.output.stdout.trim().split(' ').map(Number)
  expect(gid).toBe(uid)
  return uid as number
}

/** Pids of this test process's uid reapers (sandbox/runtimes/process/assets/uid_reaper.py). */
async function reaperPids(): Promise<number[]> {
  return descendants(process.pid)
    .filter((proc) => proc.cmdline.includes('uid_reaper.py'))
    .map((proc) => proc.pid)
}

/** Pids of live processes of `uid`, as the test (root) sees them in /proc. */
async function processesOf(uid: number): Promise<number[]> {
  const pids: number[] = []
  for (const name of await readdir('/proc')) {
    if (!/^\d+$/.test(name)) continue
    const status = await readFile(`/proc/${name}/status`, 'utf8').catch(() => '')
    const real = /^Uid:\s+(\d+)/m.exec(status)?.[1]
    if (real === String(uid) && !/^State:\s+Z/m.test(status)) pids.push(Number(name))
  }
  return pids
}

function uidCases(get: () => IsolationFixture): void {
  it('each context’s kernel runs under its own uid of the range, in a 0700 working dir it owns', async () => {
    const fixture = get()
    const { s, a, b } = fixture
    const [uidA, uidB] = [await kernelUid(fixture, a), await kernelUid(fixture, b)]
    expect(uidA).not.toBe(uidB)
    for (const uid of [uidA, uidB]) {
      expect(uid).toBeGreaterThanOrEqual(UIDS.start)
      expect(uid).toBeLessThan(UIDS.start + UIDS.count)
    }
    const dir = await stat((await s.client.getContext(a)).working_dir)
    expect(dir.uid).toBe(uidA)
    expect(dir.mode & 0o777).toBe(0o700)
    const js = await createContext(s, { language: 'javascript' })
    const jsUid = await exec(s, js, 'process.getuid()')
    expect(Number(jsUid.results[0]?.['text/plain'])).toBeGreaterThanOrEqual(UIDS.start)
    expect(Number(jsUid.results[0]?.['text/plain'])).not.toBe(uidA)
    await s.client.stopContext(js)
    // A JavaScript kernel starts in seconds, or tens of them on a loaded machine.
  }, 180_000)

  it('a kernel holds no capability and cannot list the Jupyter runtime dir', async () => {
    const { s, b } = get()
    const result = await exec(
      s,
      b,
      [
        'import os',
        'from jupyter_core.paths import jupyter_runtime_dir',
        'print([l.split()[1] for l in open("/proc/self/status") if l.startswith("CapEff")][0])',
        'try: os.listdir(jupyter_runtime_dir())',
        'except PermissionError: print("denied")',
      ].join('\n'),
    )
    expect(result.output.stdout).toBe('0000000000000000\ndenied\n')
  })

  it('B’s kill of A’s kernel is a plain PermissionError in B’s cell; A lives on', async () => {
    const fixture = get()
    const { s, a, b } = fixture
    const pid = (await exec(s, a, 'import os\nprint(os.getpid())')).output.stdout.trim()
    const result = await exec(s, b, `import os, signal\nos.kill(${pid}, signal.SIGKILL)`)
    expect(result.success).toBe(false)
    expect(result.error?.name).toBe('PermissionError')
    // The afterEach check: A still answers, with its state.
  })

  it('files written through the API belong to the context’s uid, so its kernel can change them', async () => {
    const fixture = get()
    const { s, a } = fixture
    await s.client.writeFile(a, 'up/loaded.txt', new TextEncoder().encode('x'))
    const result = await exec(
      s,
      a,
      'import os\nopen("up/loaded.txt", "a").write("y")\nprint(os.stat("up").st_uid == os.getuid(), open("up/loaded.txt").read())',
    )
    expect(result.output.stdout).toBe('True xy\n')
  })

  it('a kernel of its own uid still draws: matplotlib, imported by the template as root, plots', async () => {
    const { s, b } = get()
    const result = await exec(s, b, 'import matplotlib.pyplot as plt\nplt.plot([1, 2])\nplt.show()')
    expect(result.success, JSON.stringify(result.error)).toBe(true)
    expect(result.results.some((r) => 'image/png' in r)).toBe(true)
  })

  it('a thread bomb stops at the uid’s process limit; other contexts still start processes', async () => {
    const { s, a, b } = get()
    const bomb = await exec(
      s,
      b,
      [
        'import threading, time',
        'ev = threading.Event(); n = 0',
        'try:',
        '    while True:',
        '        threading.Thread(target=ev.wait, daemon=True).start(); n += 1',
        'except RuntimeError: pass',
        `print(n < ${UIDS.nproc})`,
        'ev.set()',
      ].join('\n'),
    )
    expect(bomb.output.stdout, JSON.stringify(bomb)).toBe('True\n')
    const other = await exec(s, a, 'import subprocess\nprint(subprocess.run(["true"]).returncode)')
    expect(other.output.stdout).toBe('0\n')
  })

  it('stopping a context kills what its kernel left running and frees its uid clean', async () => {
    const fixture = get()
    const { s } = fixture
    const c = await createContext(s)
    const uid = await kernelUid(fixture, c)
    const bait = path.join(await mkdtemp(path.join(os.tmpdir(), 'sci-bait-')), 'keep.txt')
    await writeFile(bait, 'root file')
    await chmod(path.dirname(bait), 0o755)
    await chmod(bait, 0o644)
    await exec(
      s,
      c,
      [
        'import os, subprocess',
        'subprocess.Popen(["sleep", "600"], start_new_session=True)',
        'uid = os.getuid()',
        'open(f"/tmp/sci-uid-leftover-{uid}", "w").write("x")',
        // Leftovers meant to trip a cleanup done as root: a link to a root file, a locked tree.
        `os.symlink(${JSON.stringify(bait)}, f"/tmp/sci-uid-link-{uid}")`,
        `os.symlink(${JSON.stringify(path.dirname(bait))}, f"/var/tmp/sci-uid-dirlink-{uid}")`,
        'os.makedirs(f"/dev/shm/sci-uid-tree-{uid}/a/b")',
        'open(f"/dev/shm/sci-uid-tree-{uid}/a/b/f", "w").write("x")',
        'os.chmod(f"/dev/shm/sci-uid-tree-{uid}/a", 0)',
      ].join('\n'),
    )
    expect((await processesOf(uid)).length).toBeGreaterThan(1)
    await s.client.stopContext(c)
    expect(await processesOf(uid)).toEqual([])
    for (const left of [
      `/tmp/sci-uid-leftover-${uid}`,
      `/tmp/sci-uid-link-${uid}`,
      `/var/tmp/sci-uid-dirlink-${uid}`,
      `/dev/shm/sci-uid-tree-${uid}`,
    ])
      await expect(lstat(left), left).rejects.toMatchObject({ code: 'ENOENT' })
    // What the links pointed at is not the uid's: it stays.
    expect(await readFile(bait, 'utf8')).toBe('root file')
    await rm(path.dirname(bait), { recursive: true, force: true })
  })

  it('a uid is still cleaned after its reaper process was killed', async () => {
    const fixture = get()
    const { s } = fixture
    // The reaper starts with the first uid given back.
    await s.client.stopContext(await createContext(s))
    const c = await createContext(s)
    const uid = await kernelUid(fixture, c)
    await exec(
      s,
      c,
      'import subprocess\nsubprocess.Popen(["sleep", "600"], start_new_session=True)',
    )
    const reapers = await reaperPids()
    expect(reapers.length).toBeGreaterThan(0)
    for (const pid of reapers) process.kill(pid, 'SIGKILL')
    await s.client.stopContext(c)
    expect(await processesOf(uid)).toEqual([])
  })

  describe('metrics', () => {
    it('/metrics shows the isolation level', async () => {
      const { s } = get()
      const headers = { authorization: `Bearer ${API_KEY}` }
      const text = await (await fetch(`${s.baseUrl}/metrics`, { headers })).text()
      expect(text).toContain('sandbox_isolation_level{level="uid"} 1')
    })
  })
}
