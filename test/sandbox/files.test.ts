import { createHash, randomBytes, randomUUID } from 'node:crypto'
import { readFileSync, writeFileSync } from 'node:fs'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type RunningSandbox, startSandbox } from '../helpers/sandbox.js'

const MiB = 1024 * 1024
let s: RunningSandbox
let ctx: string
const files = () => `${s.baseUrl}/api/v1/contexts/${ctx}/files`

const put = (path: string, body: string | Uint8Array) =>
  fetch(`${files()}?path=${encodeURIComponent(path)}`, {
    method: 'PUT',
    body,
    duplex: 'half',
  } as RequestInit)
const download = (path: string) => fetch(`${files()}/content?path=${encodeURIComponent(path)}`)

const getJson = async (url: string): Promise<any> => (await fetch(url)).json()

async function exec(code: string, id = ctx) {
  const { body } = await s.api('POST', `/api/v1/contexts/${id}/execute`, { code })
  return body
}

beforeAll(async () => {
  s = await startSandbox({
    maxFileBytes: 55 * MiB,
    poolSize: { python: 1, javascript: 1, typescript: 0 },
  })
  ctx = (await s.api('POST', '/api/v1/contexts', {})).body.context_id
})
afterAll(() => s?.close())

describe('files', () => {
  it('uploads a CSV, lets pandas compute on it, and downloads the result byte for byte', async () => {
    expect((await put('data/sales.csv', 'region,amount\neast,10\nwest,5\neast,7\n')).status).toBe(
      201,
    )
    const result = await exec(
      'import pandas as pd\ndf = pd.read_csv("data/sales.csv")\nimport os\nos.makedirs("out")\ndf.groupby("region").amount.sum().to_csv("out/totals.csv")',
    )
    expect(result.success).toBe(true)
    const response = await download('out/totals.csv')
    expect(response.headers.get('content-type')).toContain('text/csv')
    expect(await response.text()).toBe('region,amount\neast,17\nwest,5\n')
  })

  it('round-trips a 50 MiB binary with the same SHA-256', async () => {
    const blob = randomBytes(50 * MiB)
    const sha = (data: Uint8Array) => createHash('sha256').update(data).digest('hex')
    const upload = await put('big.bin', blob)
    expect(await upload.json()).toEqual({ files: [{ path: 'big.bin', size: 50 * MiB }] })
    const kernelSha = await exec(
      'import hashlib\nprint(hashlib.sha256(open("big.bin","rb").read()).hexdigest())',
    )
    expect(kernelSha.output.stdout.trim()).toBe(sha(blob))
    const response = await download('big.bin')
    expect(response.headers.get('content-length')).toBe(String(50 * MiB))
    expect(sha(new Uint8Array(await response.arrayBuffer()))).toBe(sha(blob))
  })

  it('refuses a file over SANDBOX_MAX_FILE_BYTES with 413 and keeps nothing of it', async () => {
    const response = await put('huge.bin', new Uint8Array(56 * MiB))
    expect(response.status).toBe(413)
    expect(await response.json()).toMatchObject({
      error: { code: 'LIMIT_EXCEEDED', reason: 'file_size' },
    })
    expect((await download('huge.bin')).status).toBe(404)
  })

  it('accepts multipart uploads and lists directories with sizes and types', async () => {
    const form = new FormData()
    form.append('path', 'uploads')
    form.append('a', new Blob(['hello']), 'a.txt')
    form.append('b', new Blob(['{}']), 'b.json')
    const response = await fetch(files(), { method: 'POST', body: form })
    expect(response.status).toBe(201)
    const listing = await getJson(`${files()}?path=uploads`)
    const names = listing.entries.map((e: { name: string }) => e.name).sort()
    expect(names).toEqual(['a.txt', 'b.json'])
    expect(listing.entries.find((e: { name: string }) => e.name === 'a.txt')).toMatchObject({
      path: 'uploads/a.txt',
      type: 'file',
      size: 5,
    })
    const root = await getJson(files())
    expect(root.entries.find((e: { name: string }) => e.name === 'uploads').type).toBe('directory')
  })

  it('caps a listing of a huge directory', async () => {
    await exec(
      'import os\nos.makedirs("many", exist_ok=True)\nfor i in range(3000): open(f"many/f{i}", "w").close()',
    )
    const listing = await getJson(`${files()}?path=many&limit=100`)
    expect(listing.entries).toHaveLength(100)
    expect(listing.truncated).toBe(true)
  })

  it('deletes files and reports missing ones as FILE_NOT_FOUND', async () => {
    await put('gone.txt', 'x')
    expect((await fetch(`${files()}?path=gone.txt`, { method: 'DELETE' })).status).toBe(200)
    const response = await download('gone.txt')
    expect([
      response.status,
      ((await response.json()) as { error: { code: string } }).error.code,
    ]).toEqual([404, 'FILE_NOT_FOUND'])
  })

  it('makes files written by JavaScript code downloadable', async () => {
    const js = (await s.api('POST', '/api/v1/contexts', { language: 'javascript' })).body.context_id
    await exec("require('fs').writeFileSync('from-js.json', JSON.stringify({ ok: true }))", js)
    const response = await fetch(
      `${s.baseUrl}/api/v1/contexts/${js}/files/content?path=from-js.json`,
    )
    expect(await response.json()).toEqual({ ok: true })
  })
})

describe('path confinement', () => {
  const canaryPath = `/tmp/sci-canary-${randomUUID()}`
  const canary = randomUUID()

  it('refuses traversal in every form', async () => {
    for (const path of [
      '../../etc/passwd',
      '/etc/passwd',
      'a/../../x',
      '..\\..\\x',
      'a\u0000b',
      'x'.repeat(10_000),
    ]) {
      for (const response of [await download(path), await put(path, 'evil')]) {
        expect(response.status, path).toBe(400)
        expect(((await response.json()) as { error: { code: string } }).error.code).toBe(
          'INVALID_PARAMS',
        )
      }
    }
  })

  it('never follows symlinks that user code planted, for reads or writes', async () => {
    writeFileSync(canaryPath, canary)
    await exec(
      `import os\nos.symlink(${JSON.stringify(canaryPath)}, "s")\nos.symlink("/", "root")\nos.symlink("/proc/1/environ", "e")\nos.link(${JSON.stringify(canaryPath)}, "hard")`,
    )
    for (const path of ['s', 'root/etc/hostname', 'e', `root${canaryPath}`, 'hard']) {
      const response = await download(path)
      expect(response.status, path).toBe(400)
      expect(await response.text()).not.toContain(canary)
    }
    for (const path of ['s', `root${canaryPath}`, 'root/tmp/sci-evil', 'hard']) {
      expect((await put(path, 'overwritten')).status, path).toBe(400)
    }
    expect(readFileSync(canaryPath, 'utf8')).toBe(canary)
    const listing = await getJson(files())
    expect(listing.entries.find((e: { name: string }) => e.name === 'root').type).toBe('symlink')
    // Deleting the link removes the link, not what it points to.
    expect((await fetch(`${files()}?path=s`, { method: 'DELETE' })).status).toBe(200)
    expect(readFileSync(canaryPath, 'utf8')).toBe(canary)
  })
})
