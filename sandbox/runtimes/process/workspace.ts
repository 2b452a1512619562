import { lchown, mkdir, opendir, realpath, rm } from 'node:fs/promises'
import path from 'node:path'
import { Readable } from 'node:stream'
import { type Workspace, workingDirInRoot } from '../runtime.js'
import { listDirectory, openForRead, removePath, writeFileStream } from './host-files.js'
import type { Owner } from './uids.js'

/** A working directory on the service's own file system: the process runtime's workspace. */
export class HostWorkspace implements Workspace {
  private closed = false
  /** The kernel uid files are written as; undefined while kernels share the service's uid. */
  private owner: Owner | undefined

  private constructor(
    readonly dir: string,
    private readonly root: string,
  ) {}

  /**
   * Creates the context's own directory inside `workspaceRoot` (mode 0700), and the requested
   * working dir inside that.
   * @param requested - `/workspace`, a path under it, or relative to it (see workingDirInRoot)
   */
  static async open(
    workspaceRoot: string,
    contextId: string,
    requested: string | undefined,
  ): Promise<HostWorkspace> {
    const relative = workingDirInRoot(requested)
    await mkdir(workspaceRoot, { recursive: true })
    const root = path.join(await realpath(workspaceRoot), contextId)
    await mkdir(root, { mode: 0o700 })
    // The directory is new and no user code has run in it: no symlink can lead out of it yet.
    const dir = path.join(root, relative)
    if (relative) await mkdir(dir, { recursive: true })
    return new HostWorkspace(dir, root)
  }

  /**
   * Hands the directory to a kernel uid: the context's own directory and the working dir's path
   * in it, before any user code runs there (so nothing in them can be a planted link).
   */
  async own(owner: Owner): Promise<void> {
    this.owner = owner
    for (let dir = this.dir; ; dir = path.dirname(dir)) {
      await lchown(dir, owner.uid, owner.gid)
      if (dir === this.root) return
    }
  }

  /**
   * Hands everything in the directory to another kernel uid (a lost kernel's replacement). The
   * previous uid's processes must be gone: links are changed, never followed.
   */
  async transfer(owner: Owner): Promise<void> {
    this.owner = owner
    await lchownTree(this.root, owner)
  }

  list(relative: string | undefined, limit: number) {
    return listDirectory(this.dir, relative, limit)
  }

  async read(relative: string) {
    const { handle, size } = await openForRead(this.dir, relative)
    return { body: Readable.toWeb(handle.createReadStream()) as ReadableStream<Uint8Array>, size }
  }

  write(relative: string, body: AsyncIterable<Uint8Array>, maxBytes: number) {
    return writeFileStream(this.dir, relative, body, maxBytes, this.owner)
  }

  remove(relative: string) {
    return removePath(this.dir, relative)
  }

  async close(): Promise<void> {
    if (this.closed) return
    this.closed = true
    await rm(this.root, { recursive: true, force: true })
  }
}

async function lchownTree(dir: string, owner: Owner): Promise<void> {
  await lchown(dir, owner.uid, owner.gid)
  for await (const entry of await opendir(dir)) {
    const entryPath = path.join(dir, entry.name)
    if (entry.isDirectory()) await lchownTree(entryPath, owner)
    else await lchown(entryPath, owner.uid, owner.gid)
  }
}
