/**
 * Docker runtime files API: the context's files live in its container (/workspace, a tmpfs) and are
 * read and written there by the container's own Jupyter Server, streamed, without following links
 * (HOSTILE.md E9–E12). The service never opens a path of a context on the host.
 */
import { createHash, randomBytes } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  createContext,
  type DockerSandbox,
  exec,
  removeScope,
  skipDocker,
  startDockerSandbox,
} from './helpers.js'

const MIB = 1024 * 1024
const sha256 = (data: Uint8Array) => createHash('sha256').update(data).digest('hex')
type Listing = {
  entries: { name: string; path: string; type: string; size: number }[]
  truncated: boolean
}
const listing = async (url: string) => (await (await fetch(url)).json()) as Listing

describe.skipIf(skipDocker)('docker runtime: files', () => {
  let s: DockerSandbox
  let id: string

  beforeAll(async () => {
    s = await startDockerSandbox({}, { maxFileBytes: 64 * MIB })
    id = await createContext(s)
  })
  afterAll(async () => {
    const scope = s?.scope
    await s?.close()
    if (scope) await removeScope(scope)
  })

  const files = (query: string) => `${s.baseUrl}/api/v1/contexts/${id}/files${query}`

  it('round-trips a 50 MiB file, streamed both ways, and the kernel sees it', async () => {
    const data = randomBytes(50 * MIB)
    const upload = await fetch(files('?path=data/big.bin'), { method: 'PUT', body: data })
    expect(upload.status).toBe(201)
    expect(await upload.json()).toEqual({ files: [{ path: 'data/big.bin', size: 50 * MIB }] })
    const inKernel = await exec(
      s,
      id,
      'import hashlib\nprint(hashlib.sha256(open("data/big.bin","rb").read()).hexdigest())',
    )
    expect(inKernel.output.stdout.trim()).toBe(sha256(data))
    const download = await fetch(files('/content?path=data/big.bin'))
    expect(download.status).toBe(200)
    expect(download.headers.get('content-length')).toBe(String(50 * MIB))
    expect(sha256(new Uint8Array(await download.arrayBuffer()))).toBe(sha256(data))
    const inData = await listing(files('?path=data'))
    expect(inData.entries).toEqual([
      expect.objectContaining({
        name: 'big.bin',
        path: 'data/big.bin',
        type: 'file',
        size: 50 * MIB,
      }),
    ])
    expect((await fetch(files('?path=data/big.bin'), { method: 'DELETE' })).status).toBe(200)
    expect((await fetch(files('/content?path=data/big.bin'))).status).toBe(404)
  })

  it('refuses a file over SANDBOX_MAX_FILE_BYTES (413) and leaves no partial file', async () => {
    const upload = await fetch(files('?path=huge.bin'), {
      method: 'PUT',
      body: Buffer.alloc(65 * MIB),
    })
    expect(upload.status).toBe(413)
    expect(((await upload.json()) as { error: unknown }).error).toMatchObject({
      code: 'LIMIT_EXCEEDED',
      reason: 'file_size',
    })
    const root = await listing(files(''))
    expect(root.entries.map((e) => e.name)).not.toContain('huge.bin')
  })

  it('E9: refuses traversal in every spelling', async () => {
    for (const bad of ['../../etc/passwd', '/etc/passwd', 'a/../../x', '..\\..\\x', 'a\u0000b']) {
      const response = await fetch(files(`/content?path=${encodeURIComponent(bad)}`))
      expect(response.status, bad).toBe(400)
    }
  })

  it('E10: never follows a symlink or a hard link made by user code, for reading or writing', async () => {
    const planted = await exec(
      s,
      id,
      [
        'import os',
        'os.symlink("/etc/passwd", "s")',
        'os.symlink("/", "root")',
        'os.symlink("/proc/1/environ", "e")',
        'os.makedirs("d", exist_ok=True)',
        'open("d/real.txt", "w").write("real")',
        'os.link("d/real.txt", "hard.txt")',
        'print(open("/etc/passwd").read()[:20])',
      ].join('\n'),
    )
    expect(planted.success).toBe(true)
    const passwd = planted.output.stdout.trim()
    for (const path of ['s', 'root/etc/hostname', 'e', 'hard.txt']) {
      const response = await fetch(files(`/content?path=${encodeURIComponent(path)}`))
      expect(response.status, path).toBe(400)
      expect(await response.text()).not.toContain(passwd)
    }
    const write = await fetch(files('?path=s'), { method: 'PUT', body: 'owned' })
    expect(write.status).toBe(400)
    const through = await fetch(files('?path=root/tmp/x'), { method: 'PUT', body: 'owned' })
    expect(through.status).toBe(400)
    const root = await listing(files(''))
    expect(root.entries).toEqual(
      expect.arrayContaining([expect.objectContaining({ name: 's', type: 'symlink' })]),
    )
    // Deleting a link removes the link, never its target.
    expect((await fetch(files('?path=root'), { method: 'DELETE' })).status).toBe(200)
    const check = await exec(
      s,
      id,
      'import os\nprint(os.path.exists("/etc/passwd"), os.path.lexists("root"))',
    )
    expect(check.output.stdout).toBe('True False\n')
    // And nothing of the host was touched or served.
    expect(readFileSync('/etc/passwd', 'utf8')).not.toContain('owned')
  })

  it('E12: a listing of many files is capped at `limit`, marked truncated', async () => {
    await exec(
      s,
      id,
      'import os\nos.makedirs("many")\nfor i in range(3000): open(f"many/f{i}", "w").close()',
    )
    const many = await listing(files('?path=many&limit=100'))
    expect(many.entries).toHaveLength(100)
    expect(many.truncated).toBe(true)
  })

  it('E7: working_dir is confined to /workspace and created inside the container', async () => {
    for (const bad of ['/etc', '../../', '/proc/self', '/workspace/../etc']) {
      const { status, body } = await s.api('POST', '/api/v1/contexts', { working_dir: bad })
      expect(status, bad).toBe(400)
      expect(body.error.code).toBe('INVALID_PARAMS')
    }
    const { status, body } = await s.api('POST', '/api/v1/contexts', { working_dir: 'proj/src' })
    expect(status).toBe(201)
    expect(body.working_dir).toBe('/workspace/proj/src')
    const upload = await fetch(
      `${s.baseUrl}/api/v1/contexts/${body.context_id}/files?path=main.py`,
      { method: 'PUT', body: 'print("hi")' },
    )
    expect(upload.status).toBe(201)
    const run = await exec(
      s,
      body.context_id,
      'import os\nprint(os.getcwd())\nexec(open("main.py").read())',
    )
    expect(run.output.stdout).toBe('/workspace/proj/src\nhi\n')
    const entries = (await listing(`${s.baseUrl}/api/v1/contexts/${body.context_id}/files`)).entries
    expect(entries).toEqual([expect.objectContaining({ name: 'main.py', path: 'main.py' })])
    await s.api('DELETE', `/api/v1/contexts/${body.context_id}`)
  })

  it('one-shot runs get their inline files in a fresh container', async () => {
    const { body } = await s.api('POST', '/api/v1/execute', {
      code: 'print(open("in/data.txt").read())',
      files: [{ path: 'in/data.txt', content: 'inline' }],
    })
    expect(body.output.stdout).toBe('inline\n')
  })
})
