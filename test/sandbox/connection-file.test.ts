/**
 * A Python kernel leaves the connection file Jupyter wrote for it as it is. ipykernel rewrites it
 * once bound (remove, then write), and Jupyter Server reads it back right after the launch: a
 * kernel forked from the template got there first under load and the server read an empty file,
 * failing the start (seen as "Could not start a python kernel" with 20 one-shot jobs at once).
 */
import { spawn } from 'node:child_process'
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { expect, it } from 'vitest'
import { loadConfig } from '../../sandbox/config.js'
import { ASSETS_DIR, KERNEL_SPEC } from '../../sandbox/jupyter/kernelspecs.js'
import { writeConnectionFile } from '../helpers/jupyter.js'

it('a Python kernel does not rewrite the connection file it was given', async () => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'sci-connection-file-test-'))
  const connectionFile = path.join(dir, 'kernel-given.json')
  const content = await writeConnectionFile(connectionFile, KERNEL_SPEC.python)
  const before = await stat(connectionFile)
  const child = spawn(
    loadConfig({}).python,
    [path.join(ASSETS_DIR, 'python_kernel.py'), '-f', connectionFile],
    { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] },
  )
  try {
    // ipykernel prints how to connect right after it (re)writes the connection file.
    await new Promise<void>((resolve, reject) => {
      let output = ''
      const read = (chunk: Buffer) => {
        output += chunk.toString()
        if (output.includes('--existing')) resolve()
      }
      child.stdout.on('data', read)
      child.stderr.on('data', read)
      child.once('exit', (code) => reject(new Error(`kernel exited (${code}): ${output}`)))
    })
    const after = await stat(connectionFile)
    expect(after.ino).toBe(before.ino)
    expect(after.mtimeMs).toBe(before.mtimeMs)
    expect(await readFile(connectionFile, 'utf8')).toBe(content)
  } finally {
    child.kill('SIGKILL')
    await rm(dir, { recursive: true, force: true })
  }
})
