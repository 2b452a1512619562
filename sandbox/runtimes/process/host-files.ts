import { constants, type Dirent } from 'node:fs'
import {
  type FileHandle,
  lchown,
  lstat,
  mkdir,
  open,
  opendir,
  readlink,
  realpath,
  rm,
} from 'node:fs/promises'
import path from 'node:path'
import type { FileEntry } from '../../api.js'
import { SandboxError } from '../../errors.js'
import { resolveInside } from '../../paths.js'
import type { Owner } from './uids.js'

/**
 * Files of a context's working directory, read and written by the service on the host. User code
 * can plant symlinks there and swap directories for links at any moment, so every operation opens
 * the file first (never following a final symlink) and then checks, through /proc/self/fd, where
 * the open file really is, and that no hard link elsewhere shares it. Whatever a race does, nothing outside the working dir is read or
 * written.
 */

/**
 * Streams `body` into `relative` inside the working dir, creating parent directories.
 * @param maxBytes - more than this is refused with LIMIT_EXCEEDED and the partial file removed
 * @param owner - the kernel uid that gets the file and the directories made for it
 * @returns the bytes written
 */
export async function writeFileStream(
  workingDir: string,
  relative: string,
  body: AsyncIterable<Uint8Array>,
  maxBytes: number,
  owner?: Owner,
): Promise<number> {
  const target = resolveInside(workingDir, relative)
  await mkdirInside(workingDir, path.dirname(target), owner)
  const handle = await openInside(
    workingDir,
    target,
    constants.O_WRONLY | constants.O_CREAT | constants.O_NOFOLLOW,
  )
  let written = 0
  try {
    // On the open file: whatever user code does to the path meanwhile, this is the file written.
    if (owner) await handle.chown(owner.uid, owner.gid)
    await handle.truncate(0)
    for await (const chunk of body) {
      written += chunk.byteLength
      if (written > maxBytes) {
        await handle.truncate(0)
        await rm(target, { force: true })
        throw new SandboxError(
          'LIMIT_EXCEEDED',
          `File is larger than ${maxBytes} bytes (SANDBOX_MAX_FILE_BYTES)`,
          {
            reason: 'file_size',
          },
        )
      }
      await handle.write(chunk)
    }
    return written
  } finally {
    await handle.close()
  }
}

/** Opens a regular file for download; the caller streams and closes it. */
export async function openForRead(
  workingDir: string,
  relative: string,
): Promise<{ handle: FileHandle; size: number }> {
  const target = resolveInside(workingDir, relative)
  const handle = await openInside(workingDir, target, constants.O_RDONLY | constants.O_NOFOLLOW)
  const stat = await handle.stat()
  if (!stat.isFile()) {
    await handle.close()
    throw new SandboxError('INVALID_PARAMS', `${relative} is not a regular file`)
  }
  return { handle, size: stat.size }
}

/**
 * Lists a directory inside the working dir, stopping after `limit` entries so a directory of a
 * million files costs no more than `limit`.
 */
export async function listDirectory(
  workingDir: string,
  relative: string | undefined,
  limit: number,
): Promise<{ entries: FileEntry[]; truncated: boolean }> {
  const dir = relative ? resolveInside(workingDir, relative) : workingDir
  const handle = await openInside(
    workingDir,
    dir,
    constants.O_RDONLY | constants.O_DIRECTORY | constants.O_NOFOLLOW,
  )
  // Read the directory through the verified descriptor's /proc path, not the name a race could swap.
  const verified = `/proc/self/fd/${handle.fd}`
  try {
    const entries: FileEntry[] = []
    const iterator = await opendir(verified)
    try {
      for await (const dirent of iterator) {
        if (entries.length === limit) return { entries, truncated: true }
        entries.push(await describe(verified, dirent, relative))
      }
    } finally {
      await iterator.close().catch(() => undefined)
    }
    return { entries, truncated: false }
  } finally {
    await handle.close()
  }
}

/** Removes a file or directory (recursively) inside the working dir; a symlink itself is removed. */
export async function removePath(workingDir: string, relative: string): Promise<void> {
  const target = resolveInside(workingDir, relative)
  if (target === workingDir)
    throw new SandboxError('INVALID_PARAMS', 'Refusing to remove the working directory')
  await assertParentInside(workingDir, target)
  await lstat(target).catch((error) => {
    throw notFound(relative, error)
  })
  await rm(target, { recursive: true, force: true })
}

async function describe(
  dir: string,
  dirent: Dirent,
  relative: string | undefined,
): Promise<FileEntry> {
  const stat = await lstat(path.join(dir, dirent.name)).catch(() => undefined)
  const type = dirent.isDirectory() ? 'directory' : dirent.isSymbolicLink() ? 'symlink' : 'file'
  return {
    name: dirent.name,
    path: relative ? path.posix.join(relative, dirent.name) : dirent.name,
    type,
    size: stat?.size ?? 0,
    modified: (stat?.mtime ?? new Date(0)).toISOString(),
  }
}

/** Opens `target` and checks that the opened file lies inside the working dir. */
async function openInside(workingDir: string, target: string, flags: number): Promise<FileHandle> {
  await assertParentInside(workingDir, target)
  let handle: FileHandle
  try {
    handle = await open(target, flags, 0o644)
  } catch (error) {
    throw mapOpenError(path.relative(workingDir, target) || '.', error)
  }
  try {
    const real = await readlink(`/proc/self/fd/${handle.fd}`)
    if (!isInside(await realpath(workingDir), real)) {
      throw new SandboxError('INVALID_PARAMS', 'Path resolves outside the working directory')
    }
    // A hard link made by user code could name any file of the host inside the working dir.
    const stat = await handle.stat()
    if (stat.isFile() && stat.nlink > 1) {
      throw new SandboxError(
        'INVALID_PARAMS',
        `${path.relative(workingDir, target)} has hard links; it is not served`,
      )
    }
    return handle
  } catch (error) {
    await handle.close()
    throw error
  }
}

async function assertParentInside(workingDir: string, target: string): Promise<void> {
  if (target === workingDir) return
  const realRoot = await realpath(workingDir)
  const parent = await realpath(path.dirname(target)).catch((error) => {
    throw notFound(path.relative(workingDir, target), error)
  })
  if (!isInside(realRoot, parent)) {
    throw new SandboxError('INVALID_PARAMS', 'Path resolves outside the working directory')
  }
}

/**
 * Creates `dir` and its parents one level at a time, refusing to go through a planted link; the
 * directories it makes go to `owner`.
 */
async function mkdirInside(workingDir: string, dir: string, owner?: Owner): Promise<void> {
  const realRoot = await realpath(workingDir)
  const relative = path.relative(workingDir, dir)
  let current = workingDir
  for (const part of relative ? relative.split(path.sep) : []) {
    current = path.join(current, part)
    const made = await mkdir(current).then(
      () => true,
      (error: NodeJS.ErrnoException) => {
        if (error.code !== 'EEXIST') throw error
        return false
      },
    )
    if (!isInside(realRoot, await realpath(current))) {
      throw new SandboxError('INVALID_PARAMS', 'Path resolves outside the working directory')
    }
    if (made && owner) await lchown(current, owner.uid, owner.gid)
  }
}

function isInside(root: string, candidate: string): boolean {
  return candidate === root || candidate.startsWith(root + path.sep)
}

function notFound(relative: string, cause: unknown): SandboxError {
  return new SandboxError('FILE_NOT_FOUND', `No such file or directory: ${relative}`, { cause })
}

function mapOpenError(relative: string, error: unknown): SandboxError {
  const code = (error as NodeJS.ErrnoException).code
  if (code === 'ENOENT') return notFound(relative, error)
  if (code === 'ELOOP')
    return new SandboxError(
      'INVALID_PARAMS',
      `${relative} is a symbolic link; links are not followed`,
    )
  if (code === 'EISDIR' || code === 'ENOTDIR')
    return new SandboxError(
      'INVALID_PARAMS',
      `${relative}: ${code === 'EISDIR' ? 'is a directory' : 'not a directory'}`,
    )
  if (code === 'EACCES' || code === 'EPERM')
    return new SandboxError('INVALID_PARAMS', `${relative}: permission denied`)
  throw error
}
