// envd's Connect Filesystem service over the default Python context's workspace: ListDir, Stat,
// MakeDir and Remove (what files.list, exists, getInfo, makeDir and remove call).
import { timestampFromDate } from '@bufbuild/protobuf/wkt'
import { Code, ConnectError, type ServiceImpl } from '@connectrpc/connect'
import type { FileEntry } from '../api.js'
import type { Workspace } from '../runtimes/runtime.js'
import { toE2bPath, toWorkspacePath } from './envd-paths.js'
import { type EnvdDeps, envdWorkspace } from './files.js'
import { type Filesystem, FileType } from './gen/filesystem/filesystem_pb.js'
import { asConnect } from './rpc-errors.js'

/** How many entries one ListDir returns at most. */
const MAX_ENTRIES = 10_000

const FILE_TYPE: Record<FileEntry['type'], FileType> = {
  file: FileType.FILE,
  directory: FileType.DIRECTORY,
  symlink: FileType.SYMLINK,
}

/**
 * The Filesystem service. Move, the watchers and WatchDir are not implemented: Connect answers
 * them Unimplemented, which the SDK raises as its SandboxError.
 */
export function filesystemService(deps: EnvdDeps): Partial<ServiceImpl<typeof Filesystem>> {
  const resolve = async (requested: string) => {
    const workspace = await envdWorkspace(deps)
    return { workspace, relative: toWorkspacePath(requested, workspace.dir) }
  }
  return {
    listDir: (request) =>
      asConnect(async () => {
        const { workspace, relative } = await resolve(request.path)
        const { entries } = await workspace.list(relative || undefined, MAX_ENTRIES)
        return { entries: entries.map((entry) => entryInfo(entry, workspace)) }
      }),
    stat: (request) =>
      asConnect(async () => {
        const { workspace, relative } = await resolve(request.path)
        return { entry: entryInfo(await statEntry(workspace, relative), workspace) }
      }),
    makeDir: (request) =>
      asConnect(async () => {
        const { workspace, relative } = await resolve(request.path)
        const existing = await statEntry(workspace, relative).catch(() => undefined)
        if (existing) throw new ConnectError(`${request.path} already exists`, Code.AlreadyExists)
        // The files API makes directories only as a file's parents: write and remove a marker.
        const marker = `${relative}/.sci-makedir`
        await workspace.write(marker, (async function* () {})(), 0)
        await workspace.remove(marker)
        return { entry: entryInfo(await statEntry(workspace, relative), workspace) }
      }),
    remove: (request) =>
      asConnect(async () => {
        const { workspace, relative } = await resolve(request.path)
        await workspace.remove(relative)
        return {}
      }),
  }
}

/** One entry, found by listing its parent directory. */
async function statEntry(workspace: Workspace, relative: string): Promise<FileEntry> {
  if (relative === '') {
    return { name: '', path: '', type: 'directory', size: 0, modified: new Date().toISOString() }
  }
  const slash = relative.lastIndexOf('/')
  const parent = slash < 0 ? undefined : relative.slice(0, slash)
  const { entries } = await workspace.list(parent, MAX_ENTRIES)
  const entry = entries.find((candidate) => candidate.path === relative)
  if (!entry) throw new ConnectError(`No such file or directory: ${relative}`, Code.NotFound)
  return entry
}

function entryInfo(entry: FileEntry, workspace: Workspace) {
  const path = toE2bPath(entry.path, workspace.dir)
  return {
    name: entry.name || path.split('/').pop() || '',
    type: FILE_TYPE[entry.type],
    path,
    size: BigInt(entry.size),
    modifiedTime: timestampFromDate(new Date(entry.modified)),
  }
}
