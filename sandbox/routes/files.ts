import { Readable } from 'node:stream'
import { createRoute, OpenAPIHono } from '@hono/zod-openapi'
import { getMimeType } from 'hono/utils/mime'
import { z } from 'zod'
import {
  ContextIdParam,
  ErrorBody,
  FileList,
  FilePathQuery,
  FilesWritten,
  ListFilesQuery,
} from '../api.js'
import type { ContextService } from '../contexts.js'
import { SandboxError } from '../errors.js'
import { checkRelativePath } from '../paths.js'
import { validationHook } from '../validation.js'
import { json } from './openapi.js'

const errors = {
  400: json(ErrorBody, 'Invalid path (outside the working dir, a symlink, NUL, …)'),
  401: json(ErrorBody, 'Missing or wrong API key'),
  404: json(ErrorBody, 'No such context or file'),
}
const params = ContextIdParam

const routes = {
  list: createRoute({
    method: 'get',
    path: '/{id}/files',
    request: { params, query: ListFilesQuery },
    responses: { 200: json(FileList, 'Directory entries (at most `limit`)'), ...errors },
  }),
  download: createRoute({
    method: 'get',
    path: '/{id}/files/content',
    request: { params, query: FilePathQuery },
    responses: {
      200: {
        content: { 'application/octet-stream': { schema: { type: 'string', format: 'binary' } } },
        description: 'The file, streamed',
      },
      ...errors,
    },
  }),
  upload: createRoute({
    method: 'put',
    path: '/{id}/files',
    request: { params, query: FilePathQuery },
    responses: {
      201: json(FilesWritten, 'Written; the raw request body is the file content'),
      ...errors,
      413: json(ErrorBody, 'File larger than SANDBOX_MAX_FILE_BYTES'),
    },
  }),
  uploadForm: createRoute({
    method: 'post',
    path: '/{id}/files',
    request: { params },
    responses: {
      201: json(
        FilesWritten,
        'multipart/form-data: every file field is written; an optional "path" field names the target directory',
      ),
      ...errors,
      413: json(ErrorBody, 'File larger than SANDBOX_MAX_FILE_BYTES'),
    },
  }),
  remove: createRoute({
    method: 'delete',
    path: '/{id}/files',
    request: { params, query: FilePathQuery },
    responses: { 200: json(z.object({ path: z.string() }), 'Removed'), ...errors },
  }),
}

/**
 * Files of a context's working directory: list, download (streamed), upload (raw body streamed to
 * disk, or multipart) and delete. Mounted next to the contexts routes.
 * @param maxFileBytes - per file; beyond it LIMIT_EXCEEDED (413)
 */
export function createFilesRoutes(contexts: ContextService, maxFileBytes: number) {
  return new OpenAPIHono({ defaultHook: validationHook })
    .openapi(routes.list, async (c) => {
      const { id } = c.req.valid('param')
      const { path, limit } = c.req.valid('query')
      const listing = await contexts.workspace(id).list(path, limit)
      return c.json({ path: path ?? '.', ...listing }, 200)
    })
    .openapi(routes.download, async (c) => {
      const { id } = c.req.valid('param')
      const { path } = c.req.valid('query')
      const { body, size } = await contexts.workspace(id).read(path)
      return new Response(body, {
        headers: {
          'content-type': getMimeType(path) ?? 'application/octet-stream',
          'content-length': String(size),
        },
      })
    })
    .openapi(routes.upload, async (c) => {
      const { id } = c.req.valid('param')
      const { path } = c.req.valid('query')
      const body = c.req.raw.body ?? Readable.from([])
      const size = await contexts
        .workspace(id)
        .write(path, body as AsyncIterable<Uint8Array>, maxFileBytes)
      return c.json({ files: [{ path, size }] }, 201)
    })
    .openapi(routes.uploadForm, async (c) => {
      const { id } = c.req.valid('param')
      const workspace = contexts.workspace(id)
      const form = await c.req.parseBody({ all: true }).catch((error) => {
        throw new SandboxError(
          'INVALID_PARAMS',
          'Send multipart/form-data with one or more file fields',
          { cause: error },
        )
      })
      const target = typeof form.path === 'string' ? form.path : ''
      if (target) checkRelativePath(target)
      const files = Object.values(form)
        .flat()
        .filter((value): value is File => value instanceof File)
      if (files.length === 0) throw new SandboxError('INVALID_PARAMS', 'No file field in the form')
      const written = []
      for (const file of files) {
        const path = target ? `${target}/${file.name}` : file.name
        const stream = file.stream() as unknown as AsyncIterable<Uint8Array>
        written.push({ path, size: await workspace.write(path, stream, maxFileBytes) })
      }
      return c.json({ files: written }, 201)
    })
    .openapi(routes.remove, async (c) => {
      const { id } = c.req.valid('param')
      const { path } = c.req.valid('query')
      await contexts.workspace(id).remove(path)
      return c.json({ path }, 200)
    })
}

/** The error for a file over SANDBOX_MAX_FILE_BYTES (413). */
export function tooLarge(maxFileBytes: number): SandboxError {
  return new SandboxError(
    'LIMIT_EXCEEDED',
    `File is larger than ${maxFileBytes} bytes (SANDBOX_MAX_FILE_BYTES)`,
    {
      reason: 'file_size',
    },
  )
}

/** True for the upload routes, which have their own, larger body limit. */
export function isFileUpload(method: string, path: string): boolean {
  return (method === 'PUT' || method === 'POST') && /^\/api\/v1\/contexts\/[^/]+\/files$/.test(path)
}
