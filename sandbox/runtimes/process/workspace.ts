import { mkdir, realpath, rm } from 'node:fs/promises'
import path from 'node:path'
import { Readable } from 'node:stream'
import { type Workspace, workingDirInRoot } from '../runtime.js'
import { listDirectory, openForRead, removePath, writeFileStream } from './host-files.js'

/** A working directory on the service's own file system: the process runtime's workspace. */
export class HostWorkspace implements Workspace {
  private closed = false

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
    await rm(this.root, { recursive: true, force: true })
  }
}
