/**
 * The files API on a real runtime: uploads and downloads streamed byte for byte, the size limit,
 * listings, and path confinement against what user code can plant (HOSTILE.md E7, E9, E10, E12).
 * One suite, run by test/sandbox/files.test.ts (process runtime) and test/docker/files.test.ts.
 */
import { createHash, randomBytes, randomUUID } from 'node:crypto'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { RunningSandbox } from '../helpers/sandbox.js'
import { createContext, exec, type RuntimeTarget } from './runtime.js'

const MiB = 1024 * 1024
const sha256 = (data: Uint8Array) => createHash('sha256').update(data).digest('hex')
type Listing = {
  entries: { name: string; path: string; type: string; size: number }[]
  truncated: boolean
}
type ErrorBody = { error: { code: string; reason?: string } }

/**
 * Registers the files suite for one runtime; it starts its own sandbox.
 * @param runtime - the runtime under test; skipped (loudly, by its helpers) when it cannot run
 */
export function describeFiles(runtime: RuntimeTarget): void {
  describe.skipIf(runtime.skip)(`${runtime.name} runtime: files`, () => {
    let s: RunningSandbox
    let ctx: string
    const files = (query = '', id = ctx) => `${s.baseUrl}/api/v1/contexts/${id}/files${query}`
    const put = (path: string, body: string | Uint8Array, id = ctx) =>
      fetch(files(`?path=${encodeURIComponent(path)}`, id), {
        method: 'PUT',
        body,
        duplex: 'half',
      } as RequestInit)
    const download = (path: string, id = ctx) =>
      fetch(files(`/content?path=${encodeURIComponent(path)}`, id))
    const remove = (path: string) =>
      fetch(files(`?path=${encodeURIComponent(path)}`), { method: 'DELETE' })
    const listing = async (query = '', id = ctx) =>
      (await (await fetch(files(query, id))).json()) as Listing

    beforeAll(async () => {
      s = await runtime.start({
        maxFileBytes: 55 * MiB,
        poolSize: { python: 1, javascript: 1, typescript: 0 },
      })
      ctx = await createContext(s)
    })
    afterAll(() => s?.close())

    it('uploads a CSV, lets pandas compute on it, and downloads the result byte for byte', async () => {
      expect((await put('data/sales.csv', 'region,amount\neast,10\nwest,5\neast,7\n')).status).toBe(
        201,
      )
      const result = await exec(
        s,
        ctx,
        'import pandas as pd\ndf = pd.read_csv("data/sales.csv")\nimport os\nos.makedirs("out")\ndf.groupby("region").amount.sum().to_csv("out/totals.csv")',
      )
      expect(result.success).toBe(true)
      const response = await download('out/totals.csv')
      expect(response.headers.get('content-type')).toContain('text/csv')
      expect(await response.text()).toBe('region,amount\neast,17\nwest,5\n')
    })

    it('round-trips a 50 MiB binary, streamed both ways, with the same SHA-256 in the kernel and back', async () => {
      const blob = randomBytes(50 * MiB)
      const upload = await put('big/big.bin', blob)
      expect(upload.status).toBe(201)
      expect(await upload.json()).toEqual({ files: [{ path: 'big/big.bin', size: 50 * MiB }] })
      const inKernel = await exec(
        s,
        ctx,
        'import hashlib\nprint(hashlib.sha256(open("big/big.bin","rb").read()).hexdigest())',
      )
      expect(inKernel.output.stdout.trim()).toBe(sha256(blob))
      const response = await download('big/big.bin')
      expect(response.status).toBe(200)
      expect(response.headers.get('content-length')).toBe(String(50 * MiB))
      expect(sha256(new Uint8Array(await response.arrayBuffer()))).toBe(sha256(blob))
      expect((await listing('?path=big')).entries).toEqual([
        expect.objectContaining({
          name: 'big.bin',
          path: 'big/big.bin',
          type: 'file',
          size: 50 * MiB,
        }),
      ])
      expect((await remove('big/big.bin')).status).toBe(200)
      expect((await download('big/big.bin')).status).toBe(404)
    })

    it('refuses a file over SANDBOX_MAX_FILE_BYTES with 413 and keeps nothing of it', async () => {
      const response = await put('huge.bin', new Uint8Array(56 * MiB))
      expect(response.status).toBe(413)
      expect(await response.json()).toMatchObject({
        error: { code: 'LIMIT_EXCEEDED', reason: 'file_size' },
      })
      expect((await download('huge.bin')).status).toBe(404)
      expect((await listing()).entries.map((e) => e.name)).not.toContain('huge.bin')
    })

    it('accepts multipart uploads and lists directories with sizes and types', async () => {
      const form = new FormData()
      form.append('path', 'uploads')
      form.append('a', new Blob(['hello']), 'a.txt')
      form.append('b', new Blob(['{}']), 'b.json')
      const response = await fetch(files(), { method: 'POST', body: form })
      expect(response.status).toBe(201)
      const uploads = await listing('?path=uploads')
      expect(uploads.entries.map((e) => e.name).sort()).toEqual(['a.txt', 'b.json'])
      expect(uploads.entries.find((e) => e.name === 'a.txt')).toMatchObject({
        path: 'uploads/a.txt',
        type: 'file',
        size: 5,
      })
      const root = await listing()
      expect(root.entries.find((e) => e.name === 'uploads')?.type).toBe('directory')
    })

    it('E12: caps a listing of a huge directory at `limit`, marked truncated', async () => {
      await exec(
        s,
        ctx,
        'import os\nos.makedirs("many", exist_ok=True)\nfor i in range(3000): open(f"many/f{i}", "w").close()',
      )
      const many = await listing('?path=many&limit=100')
      expect(many.entries).toHaveLength(100)
      expect(many.truncated).toBe(true)
    })

    it('deletes files and reports missing ones as FILE_NOT_FOUND', async () => {
      await put('gone.txt', 'x')
      expect((await remove('gone.txt')).status).toBe(200)
      const response = await download('gone.txt')
      expect([response.status, ((await response.json()) as ErrorBody).error.code]).toEqual([
        404,
        'FILE_NOT_FOUND',
      ])
    })

    it('makes files written by JavaScript code downloadable', async () => {
      const js = await createContext(s, { language: 'javascript' })
      await exec(s, js, "require('fs').writeFileSync('from-js.json', JSON.stringify({ ok: true }))")
      expect(await (await download('from-js.json', js)).json()).toEqual({ ok: true })
      await s.client.stopContext(js)
    })

    it('E7: confines working_dir to the workspace and creates it where the kernel runs', async () => {
      for (const bad of ['/etc', '../../', '/proc/self', 'a/../../x', '/workspace/../etc']) {
        await expect(s.client.createContext({ working_dir: bad }), bad).rejects.toMatchObject({
          status: 400,
          code: 'INVALID_PARAMS',
        })
      }
      const dir = `proj-${randomUUID()}/src`
      const body = await s.client.createContext({ working_dir: dir })
      // Under the runtime's workspace root (the process runtime may add a directory per context).
      expect(body.working_dir.startsWith(`${runtime.workspaceRoot}/`), body.working_dir).toBe(true)
      expect(body.working_dir.endsWith(`/${dir}`), body.working_dir).toBe(true)
      expect((await put('main.py', 'print("hi")', body.context_id)).status).toBe(201)
      const run = await exec(
        s,
        body.context_id,
        'import os\nprint(os.getcwd())\nexec(open("main.py").read())',
      )
      expect(run.output.stdout).toBe(`${body.working_dir}\nhi\n`)
      expect((await listing('', body.context_id)).entries).toEqual([
        expect.objectContaining({ name: 'main.py', path: 'main.py' }),
      ])
      await s.client.stopContext(body.context_id)
    })

    it('one-shot runs get their inline files in a fresh context', async () => {
      const body = await s.client.runOnce({
        code: 'print(open("in/data.txt").read())',
        files: [{ path: 'in/data.txt', content: 'inline' }],
      })
      expect(body.output.stdout).toBe('inline\n')
    })

    it('E9: refuses traversal in every form, for reads and writes', async () => {
      for (const path of [
        '../../etc/passwd',
        '/etc/passwd',
        'a/../../x',
        '..\\..\\x',
        'a\u0000b',
        'x'.repeat(10_000),
      ]) {
        for (const response of [await download(path), await put(path, 'evil')]) {
          expect(response.status, path.slice(0, 20)).toBe(400)
          expect(((await response.json()) as ErrorBody).error.code).toBe('INVALID_PARAMS')
        }
      }
    })

    it('E10: never follows a symlink or a hard link planted by user code, for reads or writes', async () => {
      // The canary lives outside the working dir where the kernel runs: on the host for the
      // process runtime, in the container for docker. The hard link goes to the canary when the
      // file systems allow it (process), else to a file of the working dir (docker: two tmpfs).
      const canaryPath = `/tmp/sci-canary-${randomUUID()}`
      const canary = randomUUID()
      const planted = await exec(
        s,
        ctx,
        [
          'import os',
          `open(${JSON.stringify(canaryPath)}, "w").write(${JSON.stringify(canary)})`,
          `os.symlink(${JSON.stringify(canaryPath)}, "s")`,
          'os.symlink("/", "root")',
          'os.symlink("/proc/1/environ", "e")',
          'os.makedirs("d", exist_ok=True)',
          'open("d/real.txt", "w").write("real")',
          'try:',
          `    os.link(${JSON.stringify(canaryPath)}, "hard")`,
          'except OSError:',
          '    os.link("d/real.txt", "hard")',
        ].join('\n'),
      )
      expect(planted.success, JSON.stringify(planted.error)).toBe(true)
      for (const path of ['s', 'root/etc/hostname', 'e', `root${canaryPath}`, 'hard']) {
        const response = await download(path)
        expect(response.status, path).toBe(400)
        expect(await response.text()).not.toContain(canary)
      }
      for (const path of ['s', `root${canaryPath}`, 'root/tmp/sci-evil', 'hard']) {
        expect((await put(path, 'overwritten')).status, path).toBe(400)
      }
      const root = await listing()
      for (const name of ['s', 'root'])
        expect(root.entries.find((e) => e.name === name)?.type, name).toBe('symlink')
      // Deleting a link removes the link, never what it points to.
      expect((await remove('s')).status).toBe(200)
      expect((await remove('root')).status).toBe(200)
      const check = await exec(
        s,
        ctx,
        `import os\nprint(open(${JSON.stringify(canaryPath)}).read(), os.path.isdir("/etc"), os.path.lexists("s"), os.path.lexists("root"), os.path.exists("/tmp/sci-evil"))\nos.remove(${JSON.stringify(canaryPath)})`,
      )
      expect(check.output.stdout).toBe(`${canary} True False False False\n`)
    })
  })
}
