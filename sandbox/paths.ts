import path from 'node:path'
import { SandboxError } from './errors.js'

/**
 * Checks the text of a client-given relative path, refusing anything that could leave the
 * directory it is resolved in: absolute paths, `..` segments, backslashes and NUL bytes.
 * @throws SandboxError INVALID_PARAMS naming the path
 */
export function checkRelativePath(relative: string): void {
  const invalid = (why: string) =>
    new SandboxError(
      'INVALID_PARAMS',
      `Invalid path ${JSON.stringify(relative.slice(0, 200))}: ${why}`,
    )
  if (relative.length === 0 || relative.length > 4096) throw invalid('must be 1 to 4096 characters')
  if (relative.includes('\0')) throw invalid('contains a NUL byte')
  if (relative.includes('\\')) throw invalid('contains a backslash')
  if (path.isAbsolute(relative)) throw invalid('must be relative to the working directory')
  if (relative.split('/').includes('..')) throw invalid('must not contain ".."')
}

/**
 * Resolves a client-given relative path inside `root` after checkRelativePath(). Symlinks are the
 * caller's concern: this looks at the text of the path, not the file system.
 * @param root - absolute directory the path must stay in
 * @param relative - the client's path, e.g. "data/input.csv"
 * @returns the absolute path
 */
export function resolveInside(root: string, relative: string): string {
  checkRelativePath(relative)
  return path.resolve(root, relative)
}
