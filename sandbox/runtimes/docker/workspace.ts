import path from 'node:path'
import type { FileEntry } from '../../api.js'
import { SandboxError } from '../../errors.js'
import { checkRelativePath } from '../../paths.js'
import type { Workspace } from '../runtime.js'
import type { UnixSocketClient } from './http.js'

/** The context's files inside its container: a tmpfs, gone with the container. */
export const CONTAINER_WORKSPACE = '/workspace'

/** What a workspace needs of the container its kernel runs in. */
export type FilesEndpoint = {
  client: UnixSocketClient
  /** True once the container is gone (killed, died, removed). */
  readonly gone: boolean
}

/**
 * A context's working directory inside its own container (docker runtime). Every operation is done
 * by the container's Jupyter Server (`/sci/files`, see assets/container_entry.py), with the
 * container's user and without following symlinks: the service never opens a path of a context
 * itself, so nothing user code plants can point it at the host. Uploads and downloads stream.
 */
export class ContainerWorkspace implements Workspace {
  private endpoint: FilesEndpoint | undefined

  /** @param base - the working dir relative to /workspace ('' for /workspace itself) */
  private constructor(private readonly base: string) {}

  /**
   * Opens the workspace of a new context in its container, creating the working dir.
   * @param base - relative to /workspace (see workingDirInRoot)
   */
  static async open(endpoint: FilesEndpoint, base: string): Promise<ContainerWorkspace> {
    const workspace = new ContainerWorkspace(base)
    await workspace.attach(endpoint)
    return workspace
  }

  get dir(): string {
    return this.base ? path.posix.join(CONTAINER_WORKSPACE, this.base) : CONTAINER_WORKSPACE
  }

  /** Moves the workspace to another container (one replacing a lost kernel's): its files are new. */
  async attach(endpoint: FilesEndpoint): Promise<void> {
    if (this.base) {
      const query = new URLSearchParams({ path: this.base })
      await (await expectOk(await fetchFrom(endpoint, 'POST', `/sci/files/mkdir?${query}`))).text()
    }
    this.endpoint = endpoint
  }

  async list(
    relative: string | undefined,
    limit: number,
  ): Promise<{ entries: FileEntry[]; truncated: boolean }> {
    if (relative !== undefined) checkRelativePath(relative)
    const query = new URLSearchParams({ path: this.inside(relative ?? ''), limit: String(limit) })
    const response = await expectOk(await this.request('GET', `/sci/files/list?${query}`))
    const body = (await response.json()) as { entries: FileEntry[]; truncated: boolean }
    const strip = this.base ? this.base.length + 1 : 0
    return {
      entries: body.entries.map((entry) => ({ ...entry, path: entry.path.slice(strip) })),
      truncated: body.truncated,
    }
  }

  async read(relative: string): Promise<{ body: ReadableStream<Uint8Array>; size: number }> {
    checkRelativePath(relative)
    const query = new URLSearchParams({ path: this.inside(relative) })
    const response = await expectOk(await this.request('GET', `/sci/files/content?${query}`))
    if (!response.body)
      throw new SandboxError('UNAVAILABLE', "The context's file service sent no body")
    return { body: response.body, size: Number(response.headers.get('content-length') ?? 0) }
  }

  async write(
    relative: string,
    body: AsyncIterable<Uint8Array>,
    maxBytes: number,
  ): Promise<number> {
    checkRelativePath(relative)
    const query = new URLSearchParams({
      path: this.inside(relative),
      max_bytes: String(Number.isFinite(maxBytes) ? maxBytes : Number.MAX_SAFE_INTEGER),
    })
    const response = await this.request(
      'PUT',
      `/sci/files/content?${query}`,
      capped(body, maxBytes),
    )
    const result = (await (await expectOk(response)).json()) as { size: number }
    return result.size
  }

  async remove(relative: string): Promise<void> {
    checkRelativePath(relative)
    const query = new URLSearchParams({ path: this.inside(relative) })
    await (await expectOk(await this.request('DELETE', `/sci/files/content?${query}`))).text()
  }

  /** The files go with the container, which the kernel's shutdown removes. */
  async close(): Promise<void> {}

  private inside(relative: string): string {
    return this.base ? path.posix.join(this.base, relative) : relative
  }

  private async request(
    method: string,
    requestPath: string,
    body?: AsyncIterable<Uint8Array>,
  ): Promise<Response> {
    const endpoint = this.endpoint
    const lost = () =>
      new SandboxError(
        'EXECUTION_FAILED',
        "The context's container is gone, and its files with it; restart the context to continue",
        { reason: 'kernel_lost' },
      )
    if (!endpoint || endpoint.gone) throw lost()
    try {
      return await fetchFrom(endpoint, method, requestPath, body)
    } catch (error) {
      // fetch wraps what the streamed body threw (the size cap) in a TypeError's cause.
      const cause =
        error instanceof Error && error.cause instanceof SandboxError ? error.cause : error
      if (cause instanceof SandboxError) throw cause
      if (endpoint.gone) throw lost()
      throw new SandboxError('UNAVAILABLE', "The context's Jupyter Server did not answer", {
        cause: error,
      })
    }
  }
}

/** One request to a container's file service; a streamed body goes as octet-stream. */
function fetchFrom(
  endpoint: FilesEndpoint,
  method: string,
  requestPath: string,
  body?: AsyncIterable<Uint8Array>,
): Promise<Response> {
  return endpoint.client.fetch(requestPath, {
    method,
    ...(body ? { body, headers: { 'content-type': 'application/octet-stream' } } : {}),
  })
}

/** Passes `body` on, failing with LIMIT_EXCEEDED as soon as it exceeds `maxBytes`. */
async function* capped(
  body: AsyncIterable<Uint8Array>,
  maxBytes: number,
): AsyncGenerator<Uint8Array> {
  let written = 0
  for await (const chunk of body) {
    written += chunk.byteLength
    if (written > maxBytes) {
      throw new SandboxError(
        'LIMIT_EXCEEDED',
        `File is larger than ${maxBytes} bytes (SANDBOX_MAX_FILE_BYTES)`,
        { reason: 'file_size' },
      )
    }
    yield chunk
  }
}

const CODE_FOR_STATUS: Record<
  number,
  { code: 'INVALID_PARAMS' | 'FILE_NOT_FOUND' | 'LIMIT_EXCEEDED'; reason?: string }
> = {
  400: { code: 'INVALID_PARAMS' },
  404: { code: 'FILE_NOT_FOUND' },
  413: { code: 'LIMIT_EXCEEDED', reason: 'file_size' },
  507: { code: 'LIMIT_EXCEEDED', reason: 'disk' },
}

/** Passes a 2xx response on; turns the container's error answer into a SandboxError. */
async function expectOk(response: Response): Promise<Response> {
  const { status } = response
  if (status >= 200 && status < 300) return response
  const text = await response.text()
  let message = `The context's file service answered ${status}`
  try {
    message = (JSON.parse(text) as { message?: string }).message ?? message
  } catch {}
  const known = CODE_FOR_STATUS[status]
  if (!known) throw new SandboxError('UNAVAILABLE', message)
  throw new SandboxError(known.code, message, known.reason ? { reason: known.reason } : {})
}
