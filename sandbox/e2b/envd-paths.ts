// Paths as E2B's SDK sends them (absolute, usually under /home/user) → paths relative to the
// working dir of the default Python context, which holds envd's files.
import path from 'node:path'
import { SandboxError } from '../errors.js'

/** E2B's home: the default working dir of a sandbox, mapped to the context's working dir. */
export const E2B_HOME = '/home/user'

/**
 * @param requested - a path from the SDK: relative, `~/…`, under /home/user, or under the
 *   context's working dir as the kernel sees it (`workspaceDir`)
 * @param workspaceDir - Workspace.dir of the default Python context
 * @returns the path relative to the working dir ('' for the dir itself)
 * @throws SandboxError INVALID_PARAMS for a path outside both
 */
export function toWorkspacePath(requested: string, workspaceDir: string): string {
  const clean = requested.replace(/^~(?=\/|$)/, E2B_HOME)
  if (!clean.startsWith('/')) return normalizeRelative(clean, requested)
  const normalized = path.posix.normalize(clean)
  for (const root of [workspaceDir, E2B_HOME]) {
    const relative = path.posix.relative(root, normalized)
    if (relative === '') return ''
    if (!relative.startsWith('..') && !path.posix.isAbsolute(relative)) return relative
  }
  throw new SandboxError(
    'INVALID_PARAMS',
    `${requested.slice(0, 200)} is outside the sandbox's files: use a path under ${E2B_HOME} or a relative one`,
  )
}

/** The SDK's view of a workspace path: absolute, under the working dir as the kernel sees it. */
export function toE2bPath(relative: string, workspaceDir: string): string {
  return relative === '' ? workspaceDir : path.posix.join(workspaceDir, relative)
}

function normalizeRelative(relative: string, requested: string): string {
  const normalized = path.posix.normalize(relative).replace(/\/+$/, '')
  if (normalized === '.' || normalized === '') return ''
  if (normalized.startsWith('..')) {
    throw new SandboxError('INVALID_PARAMS', `${requested.slice(0, 200)} leaves the working dir`)
  }
  return normalized
}
