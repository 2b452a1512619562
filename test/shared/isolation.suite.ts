/**
 * What a runtime isolates between two contexts, A and B (HOSTILE.md section F): the same attacks,
 * run from B against A, on every runtime. A runtime names the cases it cannot pass as known
 * limits: those run as `it.fails` under a describe that says so, so they stay visible and turn red
 * the day the runtime blocks them. Cases that only make sense on one runtime (a container's own
 * PID namespace, a read-only root) are registered by that runtime's file through `specific`.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import type { RunningSandbox } from '../helpers/sandbox.js'
import { createContext, exec, type RuntimeTarget } from './runtime.js'

export const API_KEY = 'api-key-canary'
export const SERVICE_SECRET = 'service-secret-canary'

/** The shared cases a runtime may declare as known limits. */
export type IsolationCase =
  | 'F1'
  | 'F1-history'
  | 'F2'
  | 'F2-api'
  | 'F3'
  | 'F3-iopub'
  | 'F4'
  | 'F5'
  | 'F12'

/** The sandbox and the two contexts of the suite; `a` holds `secret = 42` and a.txt. */
export type IsolationFixture = { s: RunningSandbox; a: string; b: string }

/**
 * Registers the isolation suite for one runtime; it starts its own sandbox with an API key and a
 * secret in the service's environment (SCI_TEST_SERVICE_SECRET).
 * After every case, A still answers and keeps its state: a blocked attack is an error in the
 * attacker's own cell, never a restart or a death of the context it aimed at.
 * @param options.variant - names the setting this run tests (e.g. `kernel uids on`)
 * @param options.knownLimits - cases this runtime cannot pass, and why (shown in the report)
 * @param options.specific - registers this runtime's own cases, given the fixture
 */
export function describeIsolation(
  runtime: RuntimeTarget,
  {
    variant,
    knownLimits,
    specific,
  }: {
    variant?: string
    knownLimits?: { why: string; cases: IsolationCase[] }
    specific?: (fixture: () => IsolationFixture) => void
  } = {},
): void {
  const title = `${runtime.name} runtime${variant ? ` (${variant})` : ''}: isolation between contexts`
  describe.skipIf(runtime.skip)(title, () => {
    const fixture = {} as IsolationFixture

    beforeAll(async () => {
      process.env.SCI_TEST_SERVICE_SECRET = SERVICE_SECRET
      const s = await runtime.start({ apiKey: API_KEY })
      fixture.s = s
      fixture.a = await createContext(s)
      fixture.b = await createContext(s)
      const setup = await exec(s, fixture.a, 'secret = 42\nopen("a.txt", "w").write("A")')
      expect(setup.success).toBe(true)
    })
    afterAll(async () => {
      delete process.env.SCI_TEST_SERVICE_SECRET
      await fixture.s?.close()
    })
    afterEach(async () => {
      const { s, a } = fixture
      const canary = await exec(s, a, 'print(secret)')
      expect(canary.output.stdout, 'the attacked context keeps its state').toBe('42\n')
    })

    const limited = new Set(knownLimits?.cases ?? [])
    const cases = sharedCases(() => fixture)
    describe('isolated', () => {
      for (const [id, name, test] of cases) if (!limited.has(id)) it(name, test)
      specific?.(() => fixture)
    })
    if (knownLimits) {
      describe(`known limits (${knownLimits.why})`, () => {
        for (const [id, name, test] of cases) if (limited.has(id)) it.fails(name, test)
      })
    }
  })
}

function sharedCases(get: () => IsolationFixture): [IsolationCase, string, () => Promise<void>][] {
  return [
    [
      'F1',
      'F1: variables of one context are invisible to another',
      async () => {
        const { s, b } = get()
        const result = await exec(s, b, 'print(secret)')
        expect(result.success).toBe(false)
        expect(result.error?.name).toBe('NameError')
      },
    ],
    [
      'F1-history',
      'F1: code run in one context is not in another’s IPython history (`%history -g`)',
      async () => {
        const { s, a, b } = get()
        const result = await exec(
          s,
          b,
          'print([src for _, _, src in get_ipython().history_manager.search("*secret " + "= 42*")])',
        )
        expect(result.output.stdout).toBe('[]\n')
        const own = await exec(
          s,
          a,
          'print(len(list(get_ipython().history_manager.search("*secret " + "= 42*"))))',
        )
        expect(own.output.stdout).toBe('1\n')
      },
    ],
    [
      'F2',
      'F2: a context cannot read another context’s files by path',
      async () => {
        const { s, a, b } = get()
        const body = await s.client.getContext(a)
        const result = await exec(
          s,
          b,
          `print(open(${JSON.stringify(`${body.working_dir}/a.txt`)}).read())`,
        )
        expect(result.success).toBe(false)
        expect(result.output.stdout).not.toContain('A')
      },
    ],
    [
      'F2-api',
      'F2: the files API of a context shows none of another’s files',
      async () => {
        const { s, b } = get()
        expect((await s.client.listFiles(b)).entries).toEqual([])
        await expect(s.client.readFile(b, 'a.txt')).rejects.toMatchObject({ status: 404 })
      },
    ],
    [
      'F3',
      'F3: a context cannot drive another kernel through its connection file',
      async () => {
        const { s, b } = get()
        const result = await exec(
          s,
          b,
          [
            'import glob, os',
            'from ipykernel.connect import get_connection_file',
            'from jupyter_client import BlockingKernelClient',
            'from jupyter_core.paths import jupyter_runtime_dir',
            'found = []',
            // Not its own file: a request queued on this busy kernel would fail and make
            // ipykernel abort the next request of the service (the F4 cell), whatever F4 tests.
            'own = os.path.realpath(get_connection_file())',
            'for f in glob.glob(jupyter_runtime_dir() + "/kernel-*.json"):',
            '    if os.path.realpath(f) == own: continue',
            '    c = BlockingKernelClient(connection_file=f); c.load_connection_file(); c.start_channels()',
            '    try:',
            '        r = c.execute_interactive("print(secret)", timeout=3, output_hook=lambda m: found.append(m["content"].get("text", "")))',
            '    except Exception: pass',
            '    c.stop_channels()',
            'print("".join(found))',
          ].join('\n'),
        )
        expect(result.success, JSON.stringify(result.error)).toBe(true)
        expect(result.output.stdout).not.toContain('42')
      },
    ],
    [
      'F3-iopub',
      'F3: a context cannot read another kernel’s output by subscribing to its IOPub port',
      async () => {
        const { s, a, b } = get()
        // Every TCP port listening on loopback, each a SUB socket's peer: a kernel's IOPub port is
        // a ZMQ PUB, which sends to any subscriber (its messages are signed, not encrypted).
        const subscribed = await exec(
          s,
          b,
          [
            'import time, zmq',
            'try:',
            '    table = open("/proc/net/tcp").read().splitlines()[1:]',
            'except OSError:',
            '    table = []',
            'ports = set()',
            'for line in table:',
            '    local, state = line.split()[1], line.split()[3]',
            '    if state == "0A" and local.startswith("0100007F:"):',
            '        ports.add(int(local.split(":")[1], 16))',
            'spy = zmq.Context()',
            'subs = []',
            'for port in sorted(ports)[:500]:',
            '    sub = spy.socket(zmq.SUB); sub.linger = 0; sub.setsockopt(zmq.SUBSCRIBE, b"")',
            '    sub.connect(f"tcp://127.0.0.1:{port}"); subs.append(sub)',
            'time.sleep(1)',
            'print(len(subs))',
          ].join('\n'),
        )
        expect(subscribed.success, JSON.stringify(subscribed.error)).toBe(true)
        await exec(s, a, 'print("iopub-" + "canary-of-a")')
        const heard = await exec(
          s,
          b,
          [
            'poller = zmq.Poller()',
            'for sub in subs: poller.register(sub, zmq.POLLIN)',
            'heard, deadline = [], time.monotonic() + 2',
            'while time.monotonic() < deadline:',
            '    for sub, _ in poller.poll(200):',
            '        heard += sub.recv_multipart()',
            'spy.destroy(linger=0)',
            // Built here, not written out: this cell's own code goes out on its kernel's IOPub.
            'needle = ("iopub-" + "canary-of-a").encode()',
            'print(any(needle in part for part in heard))',
          ].join('\n'),
        )
        expect(heard.success, JSON.stringify(heard.error)).toBe(true)
        expect(heard.output.stdout).toBe('False\n')
      },
    ],
    [
      'F4',
      'F4: a kernel cannot use the Jupyter REST API with the server token',
      async () => {
        const { s, b } = get()
        const result = await exec(
          s,
          b,
          // Every server file the kernel can read, not only the first: one of a server that has
          // since stopped (other test files run their own) would make the attack fail by chance.
          [
            'import glob, json, urllib.request',
            'from jupyter_core.paths import jupyter_runtime_dir',
            'answered = []',
            'for f in glob.glob(jupyter_runtime_dir() + "/jpserver-*.json"):',
            '    try:',
            '        info = json.load(open(f))',
            '        req = urllib.request.Request(info["url"] + "api/kernels", headers={"Authorization": "token " + info["token"]})',
            '        answered.append(len(json.load(urllib.request.urlopen(req, timeout=10))))',
            '    except Exception:',
            '        pass',
            'assert answered, "no Jupyter Server answered"',
            'print(answered[0])',
          ].join('\n'),
        )
        expect(result.success).toBe(false)
      },
    ],
    [
      'F5',
      'F5: kernels inherit no secret of the service: no API key, Jupyter token or service env',
      async () => {
        const { s, b } = get()
        const result = await exec(s, b, 'import os, json\nprint(json.dumps(dict(os.environ)))')
        expect(result.output?.stdout, JSON.stringify(result)).toMatch(/^\{/)
        const env = JSON.parse(result.output.stdout) as Record<string, string>
        const text = JSON.stringify(env)
        expect(text).not.toContain(API_KEY)
        expect(text).not.toContain(SERVICE_SECRET)
        expect(Object.keys(env).filter((name) => /TOKEN|SCI_|SANDBOX_/.test(name))).toEqual([])
      },
    ],
    [
      'F12',
      'F12: a kernel cannot see or signal another context’s kernel process',
      async () => {
        const { s, a, b } = get()
        // A's kernel process, named by its connection file (its command line carries the path).
        const own = await exec(
          s,
          a,
          'import os\nfrom ipykernel.connect import get_connection_file\nprint(os.path.basename(get_connection_file()))',
        )
        const file = own.output.stdout.trim()
        expect(file).toMatch(/^kernel-.+\.json$/)
        const result = await exec(
          s,
          b,
          [
            'import os',
            'for p in [p for p in os.listdir("/proc") if p.isdigit()]:',
            '    try:',
            `        if ${JSON.stringify(file)}.encode() in open(f"/proc/{p}/cmdline", "rb").read():`,
            '            os.kill(int(p), 0)',
            '            print("visible", p)',
            '    except OSError: pass',
          ].join('\n'),
        )
        expect(result.success).toBe(true)
        expect(result.output.stdout).not.toContain('visible')
      },
    ],
  ]
}
