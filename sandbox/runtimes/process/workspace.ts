import { existsSync } from 'node:fs'
import { mkdir, realpath, rm } from 'node:fs/promises'
import path from 'node:path'
import { Readable } from 'node:stream'
import type { FileEntry, InlineFile } from '../../api.js'
import { SandboxError } from '../../errors.js'
import type { JupyterKernel } from '../../jupyter/kernel.js'
import { listDirectory, openForRead, removePath, writeFileStream } from './host-files.js'

/** A context's files, wherever its kernel runs. Paths are relative to the working directory. */
export interface Workspace {
  /** The working directory as the kernel sees it. */
  readonly dir: string
  list(
    relative: string | undefined,
    limit: number,
  ): Promise<{ entries: FileEntry[]; truncated: boolean }>
  /** Opens a regular file for streaming; the stream closes the file when done. */
  read(relative: string): Promise<{ body: ReadableStream<Uint8Array>; size: number }>
  /** Streams `body` into a file, creating parent directories; more than `maxBytes` is refused. */
  write(relative: string, body: AsyncIterable<Uint8Array>, maxBytes: number): Promise<number>
  remove(relative: string): Promise<void>
  /**
   * Moves the workspace to the kernel that replaces a lost one. Only for runtimes whose files live
   * with the kernel (docker: a new container, its files empty); a host directory outlives kernels.
   */
  attach?(kernel: JupyterKernel): Promise<void>
  /** Removes what the service created for this context. Idempotent. */
  close(): Promise<void>
}

/** Writes request-supplied files into a fresh workspace, before any user code ran there. */
export async function writeInlineFiles(workspace: Workspace, files: InlineFile[]): Promise<void> {
  for (const file of files) {
    const content = Buffer.from(file.content, file.encoding === 'base64' ? 'base64' : 'utf8')
    await workspace.write(file.path, Readable.from([content]), Number.POSITIVE_INFINITY)
  }
}

/** A working directory on the service's own file system: the process runtime's workspace. */
export class HostWorkspace implements Workspace {
  private closed = false

  private constructor(
    readonly dir: string,
    private readonly owned: boolean,
  ) {}

  /**
   * Creates the working directory of a context inside `root`: a fresh one named after the context,
   * or the requested one (created if missing, refused if it resolves outside `root`).
   */
  static async open(
    root: string,
    contextId: string,
    requested: string | undefined,
  ): Promise<HostWorkspace> {
    const { dir, owned } = await resolveWorkingDir(root, contextId, requested)
    return new HostWorkspace(dir, owned)
  }

  list(relative: string | undefined, limit: number) {
    return listDirectory(this.dir, relative, limit)
  }

  async read(relative: string) {
    const { handle, size } = await openForRead(this.dir, relative)
    return { body: Readable.toWeb(handle.createReadStream()) as ReadableStream<Uint8Array>, size }
  }

  write(relative: string, body: AsyncIterable<Uint8Array>, maxBytes: number) {
    return writeFileStream(this.dir, relative, body, maxBytes)
  }

  remove(relative: string) {
    return removePath(this.dir, relative)
  }

  async close(): Promise<void> {
    if (this.closed) return
    this.closed = true
    if (this.owned) await rm(this.dir, { recursive: true, force: true })
  }
}

/**
 * Resolves a requested working dir inside the workspace root, following symlinks, and creates it.
 * @returns the directory and whether the service created it for this context alone
 */
async function resolveWorkingDir(
  root: string,
  id: string,
  requested: string | undefined,
): Promise<{ dir: string; owned: boolean }> {
  await mkdir(root, { recursive: true })
  const realRoot = await realpath(root)
  if (requested === undefined) {
    const dir = path.join(realRoot, id)
    await mkdir(dir, { mode: 0o700 })
    return { dir, owned: true }
  }
  const outside = () =>
    new SandboxError('INVALID_PARAMS', `working_dir must be inside the workspace root ${realRoot}`)
  if (requested.includes('\0')) throw outside()
  const wanted = path.resolve(realRoot, requested)
  if (isOutsideRoot(realRoot, wanted)) throw outside()
  // Check the deepest existing ancestor first: mkdir through a symlink would create dirs outside.
  if (isOutsideRoot(realRoot, await realpath(await existingAncestor(wanted)))) throw outside()
  await mkdir(wanted, { recursive: true })
  const real = await realpath(wanted)
  if (isOutsideRoot(realRoot, real)) throw outside()
  return { dir: real, owned: false }
}

function isOutsideRoot(root: string, candidate: string): boolean {
  const relative = path.relative(root, candidate)
  return relative === '..' || relative.startsWith(`..${path.sep}`) || path.isAbsolute(relative)
}

async function existingAncestor(dir: string): Promise<string> {
  for (let current = dir; ; current = path.dirname(current)) {
    if (existsSync(current) || current === path.dirname(current)) return current
  }
}
