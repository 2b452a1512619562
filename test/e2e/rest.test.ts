/** The sandbox REST API of the running stack, on 127.0.0.1:8080. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { client, rawRequest, stack, waitStackHealthy } from './stack.js'

const created: string[] = []

async function createContext(language: 'python' | 'javascript' | 'typescript'): Promise<string> {
  const context = await client.createContext({ language })
  expect(context).toMatchObject({ language, status: 'active' })
  created.push(context.context_id)
  return context.context_id
}

// biome-ignore lint/suspicious/noExplicitAny: assertions read rich outputs loosely
async function execute(id: string, code: string): Promise<any> {
  return client.execute(id, { code })
}

beforeAll(waitStackHealthy)
afterAll(async () => {
  for (const id of created) await client.stopContext(id).catch(() => undefined)
})

describe('sandbox REST API in the stack', () => {
  it('answers /health without a key', async () => {
    const { status, text } = await rawRequest('GET', '/health', undefined, { auth: false })
    expect(status).toBe(200)
    expect(text).toBe('OK')
  })

  it.skipIf(!stack.sandboxApiKey)('refuses the API without the key', async () => {
    const { status, body } = await rawRequest('GET', '/api/v1/contexts', undefined, { auth: false })
    expect(status).toBe(401)
    expect(body.error.code).toBe('UNAUTHORIZED')
  })

  it('keeps Python state between executions', async () => {
    const id = await createContext('python')
    expect((await execute(id, 'x = 21')).success).toBe(true)
    const result = await execute(id, 'print(x * 2)')
    expect(result).toMatchObject({ success: true, output: { stdout: '42\n' } })
  })

  it('keeps JavaScript state between executions', async () => {
    const id = await createContext('javascript')
    expect((await execute(id, 'let y = 20')).success).toBe(true)
    const result = await execute(id, 'console.log(y + 22)')
    expect(result).toMatchObject({ success: true, output: { stdout: '42\n' } })
  })

  it('runs TypeScript', async () => {
    const id = await createContext('typescript')
    const result = await execute(id, 'const n: number = 6\nconsole.log(n * 7)')
    expect(result).toMatchObject({ success: true, output: { stdout: '42\n' } })
  })

  it('returns a matplotlib plot as a PNG', async () => {
    const id = await createContext('python')
    const result = await execute(
      id,
      'import matplotlib.pyplot as plt\nplt.plot([1, 3, 2])\nplt.title("e2e")\nplt.show()',
    )
    expect(result.success).toBe(true)
    const png = result.results.find((r: Record<string, string>) => r['image/png'])?.['image/png']
    expect(png, JSON.stringify(result.results)).toBeTypeOf('string')
    const bytes = Buffer.from(png, 'base64')
    expect(bytes.subarray(0, 8)).toEqual(
      Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    )
    expect(bytes.length).toBeGreaterThan(1000)
  })

  it('reports code that raises as success: false with the error', async () => {
    const id = await createContext('python')
    const result = await execute(id, '1 / 0')
    expect(result.success).toBe(false)
    expect(result.error).toMatchObject({ name: 'ZeroDivisionError' })
    expect(result.error.traceback).toBeTruthy()
  })

  it('deletes a context: its kernel is gone and its id unknown', async () => {
    const id = await createContext('python')
    expect(await client.stopContext(id)).toMatchObject({ context_id: id, status: 'stopped' })
    const gone = { status: 404, code: 'CONTEXT_NOT_FOUND' }
    await expect(client.execute(id, { code: '1' })).rejects.toMatchObject(gone)
    await expect(client.getContext(id)).rejects.toMatchObject(gone)
  })
})

describe('the hardening, seen from inside a kernel', () => {
  const probe = `
import json, os, subprocess
status = dict(line.split(':', 1) for line in open('/proc/self/status').read().splitlines())
def first(*paths):
    for p in paths:
        try:
            return open(p).read().strip()
        except OSError:
            pass
def writes(path):
    try:
        open(path, 'w').close()
        return 'written'
    except OSError as error:
        return error.strerror
print(json.dumps({
    'uid': os.getuid(),
    'cap_eff': status['CapEff'].strip(),
    'no_new_privs': status['NoNewPrivs'].strip(),
    'seccomp': status['Seccomp'].strip(),
    'root_fs': writes('/usr/lib/python3/dist-packages/evil.py'),
    'app': writes('/app/evil.js'),
    'docker_sock': os.path.exists('/var/run/docker.sock') or os.path.exists('/run/docker.sock'),
    'pids_max': first('/sys/fs/cgroup/pids.max', '/sys/fs/cgroup/pids/pids.max'),
    'memory_max': first('/sys/fs/cgroup/memory.max', '/sys/fs/cgroup/memory/memory.limit_in_bytes'),
    'setuid': subprocess.run('find / -xdev -type f -perm /6000 2>/dev/null', shell=True,
                             capture_output=True, text=True).stdout.split(),
    'cwd_writable': writes('probe.txt'),
}))
`

  it('runs kernels unprivileged, read-only, limited and without the Docker socket', async () => {
    const id = await createContext('python')
    const result = await execute(id, probe)
    expect(result.success, JSON.stringify(result.error)).toBe(true)
    const seen = JSON.parse(result.output.stdout)
    expect(seen).toMatchObject({
      cap_eff: '0000000000000000',
      no_new_privs: '1',
      seccomp: '2',
      root_fs: 'Read-only file system',
      app: 'Read-only file system',
      docker_sock: false,
      pids_max: '1024',
      memory_max: String(stack.sandboxMemoryBytes),
      setuid: [],
      cwd_writable: 'written',
    })
    expect(seen.uid).not.toBe(0)
  })
})
