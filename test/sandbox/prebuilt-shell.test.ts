/**
 * The IPython shell that the kernel template builds once and each forked kernel adopts
 * (sci_prebuilt_shell.py), against real kernels: every kernel still has a shell of its own, bound
 * to its own working dir, profile, history and __main__; a profile config file is honoured after a
 * restart (the kernel then builds its shell as a cold one does); the template stays single-threaded.
 */
import {
  chmodSync,
  existsSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  rmSync,
} from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { descendants, until } from '../helpers/processes.js'
import { type RunningSandbox, startSandbox } from '../helpers/sandbox.js'

let s: RunningSandbox

const create = async () => (await s.client.createContext({ language: 'python' })).context_id
const exec = (id: string, code: string) => s.client.execute(id, { code })
const stdout = async (id: string, code: string) => (await exec(id, code)).output.stdout.trim()
const json = async (id: string, code: string) => JSON.parse(await stdout(id, code))

/** The scientific template (kernels fork from it), not the stdlib one (one-shot runs only). */
const SCIENTIFIC_TEMPLATE = /kernel_template\.py \d+ \d+ scientific /
const templatePid = () =>
  descendants(process.pid).find((p) => SCIENTIFIC_TEMPLATE.test(p.cmdline))?.pid

beforeAll(async () => {
  s = await startSandbox({
    kernelTemplate: true,
    poolSize: { python: 1, javascript: 0, typescript: 0 },
  })
})
afterAll(() => s?.close())

describe('prebuilt IPython shell', () => {
  it('gives each forked kernel a shell of its own: namespace, In/Out, %history, dirs', async () => {
    const a = await create()
    await exec(a, 'only_in_a = 41')
    await exec(a, 'only_in_a + 1')
    expect(await stdout(a, 'print(Out)')).toMatch(/: 42\}$/)

    const b = await create()
    const fresh = await json(
      b,
      'import json\nprint(json.dumps(["only_in_" + "a" in dir(), len(In), len(Out), get_ipython().execution_count]))',
    )
    expect(fresh).toEqual([false, 2, 0, 1])
    expect(await stdout(b, '%history')).not.toContain('only_in_a')
    expect(await stdout(b, '%history')).toContain('import json')

    // Bound to this kernel's start: working dir, IPython dir and profile, home.
    const where = await json(
      b,
      [
        'import os, json, tempfile',
        'from IPython.paths import get_ipython_dir',
        'ip = get_ipython()',
        'print(json.dumps({"pid": os.getpid(), "cwd": os.getcwd(), "dh": str(_dh[0]), "start": ip.starting_dir,',
        '  "ipdir": get_ipython_dir(), "shell_ipdir": ip.ipython_dir, "profile": ip.profile_dir.location,',
        '  "db": str(ip.db.root), "home": ip.home_dir, "home_env": os.path.expanduser("~"),',
        '  "tmp": tempfile.gettempdir(), "tmp_env": tempfile._get_default_tempdir(),',
        '  "main": __import__("sys").modules["__main__"] is ip.user_module, "pager": os.environ.get("PAGER")}))',
      ].join('\n'),
    )
    // _dh[0] is where the kernel started (the sandbox then moves it into the context's dir).
    expect(where.dh).toBe(where.start)
    expect(where.dh).not.toBe(readlinkSync(`/proc/${templatePid()}/cwd`))
    expect(where.cwd).toBe(readlinkSync(`/proc/${where.pid}/cwd`))
    expect(where.shell_ipdir).toBe(where.ipdir)
    expect(where.profile).toBe(path.join(where.ipdir, 'profile_default'))
    expect(where.db).toBe(path.join(where.profile, 'db'))
    expect(where.home).toBe(where.home_env)
    expect(where.tmp).toBe(where.tmp_env)
    expect(where.main).toBe(true)
    expect(where.pager).toBe('cat')
  })

  it('keeps __main__, pickling, display, get_ipython, script magics and tracebacks working', async () => {
    const id = await create()
    const pickled = await stdout(
      id,
      'import pickle\nclass Point:\n    def __init__(self, x): self.x = x\nprint(pickle.loads(pickle.dumps(Point(7))).x, Point.__module__)',
    )
    expect(pickled).toBe('7 __main__')
    const shown = await exec(
      id,
      'from IPython.display import display, HTML\ndisplay(HTML("<b>x</b>"))',
    )
    expect(shown.results.some((r) => r['text/html'] === '<b>x</b>')).toBe(true)
    // The launcher patches %%script after the template registered it: a stale binding loses the
    // output of every script cell after the first.
    expect(await stdout(id, '%%script bash\necho one')).toBe('one')
    expect(await stdout(id, '%%script bash\necho two')).toBe('two')
    expect(await stdout(id, '%%bash\necho "$PAGER"')).toBe('cat')
    const error = await exec(id, 'def f():\n    return 1 / 0\nf()')
    expect(error.error?.name).toBe('ZeroDivisionError')
    expect(error.error?.traceback).toContain('return 1 / 0')
  })

  it('runs atexit handlers that user code registered when the kernel shuts down', async () => {
    // Outside the context's working dir, which goes with the context; writable by a kernel uid.
    const dir = mkdtempSync(path.join(os.tmpdir(), 'sci-atexit-'))
    chmodSync(dir, 0o777)
    const marker = path.join(dir, 'ran')
    try {
      const id = await create()
      await exec(
        id,
        `import atexit\natexit.register(lambda: open(${JSON.stringify(marker)}, "w").write("yes"))`,
      )
      await s.client.stopContext(id)
      await until(() => existsSync(marker))
      expect(readFileSync(marker, 'utf8')).toBe('yes')
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })

  it('honours a profile config file after a restart: the kernel builds its own shell then', async () => {
    const id = await create()
    const config = await stdout(
      id,
      [
        'import os',
        'path = os.path.join(get_ipython().profile_dir.location, "ipython_kernel_config.py")',
        'open(path, "w").write("c.InteractiveShell.ast_node_interactivity = \'all\'\\nc.InteractiveShell.separate_in = \'X\'\\n")',
        'print(path)',
      ].join('\n'),
    )
    expect((await exec(id, '1\n2')).results.map((r) => r['text/plain'])).toEqual(['2'])
    expect((await s.client.restart(id)).status).toBe('active')
    const both = await exec(id, '1\n2')
    expect(both.results.map((r) => r['text/plain'])).toEqual(['1', '2'])
    expect(await stdout(id, 'print(get_ipython().separate_in)')).toBe('X')
    // Still a kernel's shell in every other way.
    expect(
      await stdout(
        id,
        'import pickle\nclass C: pass\nprint(type(pickle.loads(pickle.dumps(C()))).__name__)',
      ),
    ).toBe('C')
    expect(await stdout(id, 'print(len(In))')).toBe('5')
    expect(config).toMatch(/ipython_kernel_config\.py$/)
    rmSync(config)
  })

  it('leaves the template single-threaded with the shell built in it', async () => {
    await create()
    await until(() => templatePid() !== undefined)
    expect(readdirSync(`/proc/${templatePid()}/task`)).toHaveLength(1)
  })
})
