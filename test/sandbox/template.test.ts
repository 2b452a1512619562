/**
 * Python kernels forked from the kernel template (process runtime), against real kernels: each
 * context starts pristine, Jupyter's interrupt, restart and kill work on a forked kernel, a first
 * start takes the template's spare kernel, a dead template falls back to the old start, the memory
 * cap holds, no kernel outlives its Jupyter Server, and a kernel cannot signal the template.
 */
import { existsSync, readdirSync, readFileSync, readlinkSync } from 'node:fs'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { descendants, isAlive, until } from '../helpers/processes.js'
import { type RunningSandbox, startSandbox } from '../helpers/sandbox.js'

let s: RunningSandbox

const create = async () => (await s.client.createContext({ language: 'python' })).context_id
const exec = (id: string, code: string) => s.client.execute(id, { code })
const stdout = async (id: string, code: string) => (await exec(id, code)).output.stdout.trim()

/** The kernel's own pid, as the kernel sees it. */
const kernelPid = async (id: string) => Number(await stdout(id, 'import os; print(os.getpid())'))

const starts = async () => {
  const text = await (await fetch(`${s.baseUrl}/metrics`)).text()
  const count = (path: string) =>
    Number(
      new RegExp(`sandbox_python_kernel_starts_total\\{path="${path}"\\} (\\d+)`).exec(text)?.[1],
    )
  return { spare: count('spare'), template: count('template'), cold: count('cold'), text }
}

const jupyterServer = () => {
  const server = descendants(process.pid).find((p) => p.cmdline.includes('jupyter_server'))
  if (!server) throw new Error('no Jupyter Server')
  return server.pid
}
/** Socket inodes a process has open, but for stdin, stdout and stderr (a pipe to the service's log). */
const sockets = (pid: number) => {
  const fds = readdirSync(`/proc/${pid}/fd`).filter((fd) => Number(fd) > 2)
  const links = fds.map((fd) => {
    try {
      return readlinkSync(`/proc/${pid}/fd/${fd}`)
    } catch {
      return ''
    }
  })
  return new Set(links.filter((link) => link.startsWith('socket:')))
}
/** Page faults a process has taken so far without reading from disk (minflt, /proc/<pid>/stat). */
const pageFaults = (pid: number) =>
  Number(readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.split(' ')[7])
/** The scientific template (kernels fork from it), not the stdlib one (one-shot runs only). */
const SCIENTIFIC_TEMPLATE = /kernel_template\.py \d+ \d+ scientific /
const templatePid = () =>
  descendants(jupyterServer()).find((p) => SCIENTIFIC_TEMPLATE.test(p.cmdline))?.pid

beforeAll(async () => {
  s = await startSandbox({
    kernelTemplate: true,
    kernelMemoryMb: 1024,
    interruptGraceMs: 2000,
    poolSize: { python: 1, javascript: 0, typescript: 0 },
  })
})
afterAll(() => s?.close())

describe('kernel template', () => {
  it('forks each kernel from a template, pristine: module changes and seeds are not shared', async () => {
    const a = await create()
    await exec(a, 'import json, numpy\njson.x = 1\nnumpy.y = 2')
    expect(await stdout(a, 'print(json.x, numpy.y)')).toBe('1 2')
    const b = await create()
    expect(
      await stdout(b, 'import json, numpy\nprint(hasattr(json, "x"), hasattr(numpy, "y"))'),
    ).toBe('False False')
    const seeds = 'import random, numpy\nprint(random.random(), numpy.random.random())'
    expect(await stdout(a, seeds)).not.toBe(await stdout(b, seeds))
    // A forked kernel shows its own command line, as a cold one does (tests and ps find it so).
    const pid = await kernelPid(b)
    const kernel = descendants(jupyterServer()).find((p) => p.pid === pid)
    expect(kernel?.cmdline).toMatch(/python_kernel\.py -f \S+kernel-[\w-]+\.json/)
    const { spare, template, cold, text } = await starts()
    expect(cold).toBe(0)
    expect(spare + template).toBeGreaterThanOrEqual(2)
    expect(text).toContain('sandbox_kernel_template_up 1')
    // pandas and matplotlib come with the template: nothing is left to import.
    expect(await stdout(b, 'import sys\nprint("pandas" in sys.modules)')).toBe('True')
  })

  it('interrupts, restarts and kills a forked kernel through Jupyter', async () => {
    const id = await create()
    await exec(id, 'x = 1')
    const running = exec(id, 'import time\ntime.sleep(60)')
    await new Promise((resolve) => setTimeout(resolve, 500))
    await s.client.interrupt(id)
    expect((await running).error?.name).toBe('KeyboardInterrupt')
    expect(await stdout(id, 'print(x)')).toBe('1')

    const before = await kernelPid(id)
    const forked = (await starts()).template
    expect((await s.client.restart(id)).status).toBe('active')
    const after = await kernelPid(id)
    expect(after).not.toBe(before)
    expect(isAlive(before)).toBe(false)
    expect((await exec(id, 'x')).error?.name).toBe('NameError')
    expect((await starts()).template).toBe(forked + 1)

    // Killed from outside: Jupyter notices, starts a fresh forked kernel, the context goes on.
    process.kill(after, 'SIGKILL')
    // Until the context answers again; a refused execute (the kernel being replaced) is a no.
    await until(() =>
      exec(id, 'print(1)').then(
        (result) => result.success,
        () => false,
      ),
    )
    const third = await kernelPid(id)
    expect(third).not.toBe(after)
    expect((await starts()).template).toBe(forked + 2)

    await s.client.stopContext(id)
    await until(() => !isAlive(third))
  })

  it("hands a first start to the template's spare: the context's uid, dir and env, its own ports; a restart forks on them", async () => {
    const spares = () =>
      descendants(templatePid() ?? 0).filter((p) => p.cmdline.includes('sci_spare_kernel.py'))
    await until(() => spares().length === 1)
    const [spare] = spares()
    // Ready: it waits for a request, taking no more page faults.
    let spareFaults = -1
    await until(() => {
      const last = spareFaults
      spareFaults = pageFaults(spare?.pid ?? 0)
      return spareFaults === last
    })
    // The pool holds a kernel already: the spare starts the one that refills it, or the next.
    let id = ''
    for (let tries = 0; tries < 3 && !id; tries++) {
      const created = await create()
      if ((await kernelPid(created)) === spare?.pid) id = created
    }
    expect(id).not.toBe('')
    const faultsAfterRequest = pageFaults(spare?.pid ?? 0) - spareFaults
    // Its second cell, as below after the restart: the same namespace as a forked kernel's.
    const names = 'print(sorted(globals()))'
    const spareNames = await stdout(id, names)
    expect((await starts()).spare).toBeGreaterThanOrEqual(1)
    const seen = JSON.parse(
      await stdout(
        id,
        [
          'import json, os',
          'from ipykernel.connect import get_connection_file',
          'info = json.load(open(get_connection_file()))',
          'home = os.environ["HOME"]',
          'sockets = os.stat(os.path.dirname(info["ip"]))',
          'print(json.dumps([os.getuid(), os.stat(os.getcwd()).st_uid, os.stat(home).st_uid,',
          '  os.getsid(0) == os.getpid(), info["shell_port"], get_ipython().home_dir == home,',
          '  info["transport"], sockets.st_uid, oct(sockets.st_mode & 0o777), info["ip"]]))',
        ].join('\n'),
      ),
    )
    const [uid, cwdOwner, homeOwner, ownSession, shellPort, shellHome, ...ipc] = seen
    expect(uid).not.toBe(0)
    expect([cwdOwner, homeOwner, ownSession, shellHome]).toEqual([uid, uid, true, true])
    // With kernel uids its sockets are files in a directory of its uid's, not loopback ports.
    const [transport, socketsOwner, socketsMode, socketsPath] = ipc
    expect([transport, socketsOwner, socketsMode]).toEqual(['ipc', uid, '0o700'])
    // It took the IPython shell the template built, as a forked kernel does (sci_prebuilt_shell.py).
    const adopted = 'import sci_prebuilt_shell\nprint(sci_prebuilt_shell._shell is get_ipython())'
    expect(await stdout(id, adopted)).toBe('True')
    const kernel = descendants(jupyterServer()).find((p) => p.pid === spare?.pid)
    expect(kernel?.cmdline).toMatch(/python_kernel\.py -f \S+kernel-[\w-]+\.json/)
    // A new spare is readied for the next start.
    await until(() => spares().some((p) => p.pid !== spare?.pid))

    // No socket directory is left of a spare that is gone, nor of the template's rehearsal.
    const runtimeDir = path.dirname(path.dirname(socketsPath))
    const spareDirs = readdirSync(runtimeDir).filter((name) => name.startsWith('sci-ipc-spare-'))
    expect(spareDirs.filter((name) => !isAlive(Number(name.split('-').pop())))).toEqual([])

    expect((await s.client.restart(id)).status).toBe('active')
    const restarted = await kernelPid(id)
    expect(restarted).not.toBe(spare?.pid)
    // The spare copied, before its request, the template's pages that its start writes to (learned
    // from the template's rehearsal, sci_copied_pages.py): from its request to its first answer it
    // faulted in about 700 pages here, against about 4,200 for a kernel forked on request (restart)
    // and about 2,100 for a spare that copies nothing ahead.
    expect(faultsAfterRequest).toBeLessThan(pageFaults(restarted) / 4)
    expect(await stdout(id, names)).toBe(spareNames)
    expect(await stdout(id, adopted)).toBe('True')
    // The same sockets: the WebSocket's channels, connected to them, reach the new kernel.
    const where =
      'from ipykernel.connect import get_connection_file\nimport json\ninfo = json.load(open(get_connection_file()))\nprint(info["ip"], info["shell_port"])'
    expect(await stdout(id, where)).toBe(`${socketsPath} ${shellPort}`)
    await s.client.stopContext(id)
    await until(() => !existsSync(path.dirname(socketsPath)))
  })

  it('keeps IPython as users know it: script magics and their help, In/Out, %history, traitlets', async () => {
    // The start shares one parser among the %%bash-style magics and caches traitlets' class
    // lookups while the kernel initializes (sci_fast_init.py).
    const id = await create()
    expect(await stdout(id, '%%bash\necho "$((6 * 7))"')).toBe('42')
    expect(await stdout(id, '%%sh\necho sh')).toBe('sh')
    expect(await stdout(id, '%%script bash\necho script')).toBe('script')
    const docs = await stdout(
      id,
      'ip = get_ipython()\nprint(ip.find_cell_magic("bash").__doc__)\nprint(ip.find_cell_magic("script").parser.format_help())',
    )
    expect(docs).toContain('Run cells with bash in a subprocess.')
    expect(docs).toContain('--bg')
    await exec(id, '40 + 2')
    expect(await stdout(id, 'print(_, In[-2])')).toBe('42 40 + 2')
    expect(await stdout(id, '%history -l 3')).toContain('40 + 2')
    // A class user code changes after the start is seen as it is now.
    const traits = await stdout(
      id,
      'import traitlets\nclass A(traitlets.HasTraits):\n    x = traitlets.Int(1)\nA.class_trait_names()\nA.y = traitlets.Int(2)\nprint(sorted(A.class_trait_names()))',
    )
    expect(traits).toBe("['x', 'y']")
  })

  it('keeps the memory cap: a big allocation raises MemoryError, the kernel lives on', async () => {
    const id = await create()
    const result = await exec(id, 'x = bytearray(3 * 1024**3)')
    expect(result.error?.name).toBe('MemoryError')
    expect(await stdout(id, 'print(2 + 2)')).toBe('4')
  })

  it('keeps kernels away from the template: own session and group, no socket to it', async () => {
    const id = await create()
    const template = templatePid()
    expect(template).toBeDefined()
    const ids = JSON.parse(
      await stdout(
        id,
        'import os, json\nprint(json.dumps([os.getpid(), os.getpgid(0), os.getsid(0), os.getppid(), os.getpgid(os.getppid()), os.getsid(os.getppid())]))',
      ),
    )
    const [pid, pgid, sid, ppid, parentPgid, parentSid] = ids
    expect(ppid).toBe(template)
    expect([pgid, sid]).toEqual([pid, pid])
    expect(parentPgid).not.toBe(pgid)
    expect(parentSid).not.toBe(sid)
    // Its whole process group gets a signal whose default action would kill the template.
    const signalled = await exec(
      id,
      'import os, signal\nsignal.signal(signal.SIGUSR1, lambda *_: None)\nos.killpg(0, signal.SIGUSR1)\nprint("ok")',
    )
    expect(signalled.output.stdout).toBe('ok\n')
    await new Promise((resolve) => setTimeout(resolve, 200))
    expect(isAlive(template ?? 0)).toBe(true)
    // The template's control socket is not open in the kernel (inherited descriptors are closed).
    const kernelSockets = sockets(pid)
    expect(kernelSockets.size).toBeGreaterThan(0)
    expect(sockets(template ?? 0).size).toBeGreaterThan(0)
    const shared = [...sockets(template ?? 0)].filter((inode) => kernelSockets.has(inode))
    expect(shared).toEqual([])
  })

  it('falls back to the old start when the template dies, then forks again from a new one', async () => {
    const id = await create()
    // The pool refills by forking; killed mid-refill, that refill would start cold too.
    await until(async () =>
      /sandbox_pool_ready_kernels\{language="python"\} 1\b/.test((await starts()).text),
    )
    const before = await starts()
    const template = templatePid()
    if (template === undefined) throw new Error('no kernel template')
    process.kill(template, 'SIGKILL')
    // Its kernels live on.
    expect(await stdout(id, 'print(3)')).toBe('3')
    expect((await s.client.restart(id)).status).toBe('active')
    expect(await stdout(id, 'print(4)')).toBe('4')
    expect((await starts()).cold).toBe(before.cold + 1)
    // A new template is started a few seconds later; kernels fork from it again.
    await until(() => {
      const next = templatePid()
      return next !== undefined && next !== template
    })
    await until(async () => (await starts()).text.includes('sandbox_kernel_template_up 1'))
    await new Promise((resolve) => setTimeout(resolve, 3000))
    await until(async () => {
      // A restart refused while the template comes back is tried again, as any other miss.
      await s.client.restart(id).catch(() => undefined)
      return (await starts()).template > before.template
    }, 30_000)
    expect(await stdout(id, 'print(5)')).toBe('5')
  })

  it('leaves no forked kernel or template behind when the Jupyter Server dies', async () => {
    await create()
    await until(() => templatePid() !== undefined)
    const server = jupyterServer()
    const below = descendants(server)
    expect(below.some((p) => p.cmdline.includes('kernel_template.py'))).toBe(true)
    expect(below.filter((p) => p.cmdline.includes('python_kernel.py')).length).toBeGreaterThan(0)
    process.kill(server, 'SIGKILL')
    await until(() => below.every((p) => !isAlive(p.pid)), 10_000)
  })
})

describe('kernel template off (SANDBOX_KERNEL_TEMPLATE=0)', () => {
  it('starts every Python kernel the old way and counts it', async () => {
    await using off = await startSandbox({
      kernelTemplate: false,
      poolSize: { python: 0, javascript: 0, typescript: 0 },
    })
    const body = await off.client.createContext({ language: 'python' })
    const run = await off.client.execute(body.context_id, { code: 'print(6 * 7)' })
    expect(run.output.stdout).toBe('42\n')
    const text = await (await fetch(`${off.baseUrl}/metrics`)).text()
    expect(text).toContain('sandbox_python_kernel_starts_total{path="cold"} 1')
    expect(text).toContain('sandbox_python_kernel_starts_total{path="template"} 0')
    expect(text).toContain('sandbox_python_kernel_starts_total{path="spare"} 0')
    expect(text).toContain('sandbox_kernel_template_up 0')
  })
})
