import { mkdir, writeFile } from 'node:fs/promises'
import path from 'node:path'
import type { InlineFile } from './api.js'
import { resolveInside } from './paths.js'

/**
 * Writes request-supplied files into a fresh working directory, before any user code ran there
 * (so no symlink planted by user code can redirect a write).
 */
export async function writeInlineFiles(workingDir: string, files: InlineFile[]): Promise<void> {
  for (const file of files) {
    const target = resolveInside(workingDir, file.path)
    await mkdir(path.dirname(target), { recursive: true })
    await writeFile(
      target,
      Buffer.from(file.content, file.encoding === 'base64' ? 'base64' : 'utf8'),
      { flag: 'wx' },
    )
  }
}
