/**
 * What the "process" runtime isolates between contexts, and what it does not. Cases it cannot
 * pass are `it.fails`: they run the real attack, expect it to be blocked, and are reported as
 * expected failures, so they stay visible and flip to red the day the runtime blocks them.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type RunningSandbox, startSandbox } from '../helpers/sandbox.js'

let s: RunningSandbox
let a: string
let b: string

async function exec(id: string, code: string) {
  const { body } = await s.api('POST', `/api/v1/contexts/${id}/execute`, { code })
  return body
}

beforeAll(async () => {
  process.env.SCI_TEST_SERVICE_SECRET = 'service-secret-canary'
  s = await startSandbox({ apiKey: 'api-key-canary' })
  const create = async () =>
    (await s.api('POST', '/api/v1/contexts', {}, { authorization: 'Bearer api-key-canary' })).body
      .context_id
  a = await create()
  b = await create()
  s.api = (
    (api) =>
    (method, path, body, headers = {}) =>
      api(method, path, body, { authorization: 'Bearer api-key-canary', ...headers })
  )(s.api)
  await exec(a, 'secret = 42\nopen("a.txt", "w").write("A")')
})
afterAll(async () => {
  delete process.env.SCI_TEST_SERVICE_SECRET
  await s?.close()
})

describe('process runtime: isolated', () => {
  it('F1: variables of one context are invisible to another', async () => {
    const result = await exec(b, 'print(secret)')
    expect(result.error.name).toBe('NameError')
  })

  it('F1: code run in one context is not in another’s IPython history (`%history -g`)', async () => {
    const result = await exec(
      b,
      'print([src for _, _, src in get_ipython().history_manager.search("*secret " + "= 42*")])',
    )
    expect(result.output.stdout).toBe('[]\n')
    const own = await exec(
      a,
      'print(len(list(get_ipython().history_manager.search("*secret " + "= 42*"))))',
    )
    expect(own.output.stdout).toBe('1\n')
  })

  it('F5: kernels inherit no secret of the service: no API key, Jupyter token or service env', async () => {
    const result = await exec(b, 'import os, json\nprint(json.dumps(dict(os.environ)))')
    expect(result.output?.stdout, JSON.stringify(result)).toMatch(/^\{/)
    const env = JSON.parse(result.output.stdout) as Record<string, string>
    const text = JSON.stringify(env)
    expect(text).not.toContain('api-key-canary')
    expect(text).not.toContain('service-secret-canary')
    expect(Object.keys(env).filter((name) => /TOKEN|SCI_|SANDBOX_/.test(name))).toEqual([])
  })
})

describe('process runtime: known limits (one user, trusted agents; use per-context containers otherwise)', () => {
  it.fails('F2: a context cannot read another context’s files', async () => {
    const { body } = await s.api('GET', `/api/v1/contexts/${a}`)
    const result = await exec(
      b,
      `print(open(${JSON.stringify(`${body.working_dir}/a.txt`)}).read())`,
    )
    expect(result.success).toBe(false)
  })

  it.fails('F3: a context cannot drive another kernel through its connection file', async () => {
    const result = await exec(
      b,
      [
        'import glob, os',
        'from ipykernel.connect import get_connection_file',
        'from jupyter_client import BlockingKernelClient',
        'from jupyter_core.paths import jupyter_runtime_dir',
        'found = []',
        // Not its own file: a request queued on this busy kernel would fail and make ipykernel
        // abort the next request of the service (the F4 cell), whatever F4 tests.
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
    expect(result.output.stdout).not.toContain('42')
  })

  it.fails('F4: a kernel cannot use the Jupyter REST API with the server token', async () => {
    const result = await exec(
      b,
      [
        'import glob, json, urllib.request',
        'from jupyter_core.paths import jupyter_runtime_dir',
        'info = json.load(open(glob.glob(jupyter_runtime_dir() + "/jpserver-*.json")[0]))',
        'req = urllib.request.Request(info["url"] + "api/kernels", headers={"Authorization": "token " + info["token"]})',
        'print(len(json.load(urllib.request.urlopen(req))))',
      ].join('\n'),
    )
    expect(result.success).toBe(false)
  })

  it.fails('F12: a kernel cannot see or kill another context’s kernel process', async () => {
    const pid = Number((await exec(a, 'import os; print(os.getpid())')).output.stdout)
    const result = await exec(b, `import os; os.kill(${pid}, 0); print("visible")`)
    expect(result.output.stdout).not.toContain('visible')
  })
})
