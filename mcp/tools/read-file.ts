import type { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js'
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js'
import { z } from 'zod'
import type { FileContent, SandboxClient } from '../../client/index.js'
import { toolArguments } from './arguments.js'
import { fileContextId, inFileContext } from './file-context.js'
import { classifyFile } from './file-kind.js'
import { MAX_RESULT_BYTES, resultBytes } from './fit.js'
import type { ToolDeps } from './index.js'
import { jsonResult, withErrorResults } from './results.js'

/**
 * Bytes of one read at most. A result must stay under MAX_RESULT_BYTES: base64 makes 720 KiB into
 * 960 KiB, and text travels twice (text block and structuredContent), so a read that does not fit
 * is halved until it does. Larger files are read in pieces with offset and length.
 */
const MAX_READ_BYTES = 720 * 1024 // 720 KiB

const ReadFileOutput = z.object({
  context_id: z.string(),
  path: z.string(),
  size: z.number().int().describe('Bytes of the whole file'),
  offset: z.number().int().describe('First byte returned'),
  length: z.number().int().describe('Bytes returned'),
  next_offset: z
    .number()
    .int()
    .optional()
    .describe('Set when the file goes on: pass it as offset to read the next piece'),
  mime_type: z.string(),
  kind: z
    .enum(['text', 'image', 'binary'])
    .describe(
      'text: the bytes are in content; image: the whole file comes as an image block; binary: as an embedded resource, base64',
    ),
  content: z.string().optional().describe('The text read (kind text only), unchanged'),
})
type ReadFileOutput = z.infer<typeof ReadFileOutput>

const input = toolArguments({
  path: z
    .string()
    .describe(
      'File path relative to the working directory, e.g. "result.csv" or "plots/chart.png"; absolute paths and ".." are refused',
    ),
  context_id: fileContextId,
  offset: z
    .number()
    .int()
    .min(0)
    .default(0)
    .describe('First byte to read; for a large file, the next_offset of the previous read'),
  length: z
    .number()
    .int()
    .min(1)
    .max(MAX_READ_BYTES)
    .optional()
    .describe(
      `Bytes to read at most; default and maximum ${MAX_READ_BYTES}, less when the result would be too large`,
    ),
})

/** read_file: a file of a context's working directory, as text, an image or a base64 resource. */
export function registerReadFileTool(
  server: McpServer,
  { sandbox, defaults, log }: ToolDeps,
): void {
  server.registerTool(
    'read_file',
    {
      title: 'Read file',
      description:
        'Read a file from a code context\'s working directory: a result file, a chart or data that code wrote there, or a file from write_file. Without context_id it reads from the default Python context, where run_code without context_id runs, so a file that code saved as "out.csv" is read with path "out.csv". UTF-8 text comes back as text in content; PNG, JPEG, GIF and WebP images as an image block; other binary files as an embedded resource (base64) with their MIME type. One read returns at most 720 KiB (less for text that JSON escapes heavily): a larger file comes in pieces, each result giving next_offset to pass as offset for the next one. For a large data file, run_code that inspects or summarises it (e.g. pandas head()) is often better.',
      inputSchema: input.advertised,
      outputSchema: ReadFileOutput.shape,
      annotations: { readOnlyHint: true, openWorldHint: false },
    },
    withErrorResults(log, async (args, extra) => {
      const { path, context_id, offset, length } = input.parse(args)
      let want = Math.min(length ?? MAX_READ_BYTES, MAX_READ_BYTES)
      for (;;) {
        const { contextId, result: file } = await inFileContext(defaults, context_id, (id) =>
          readText(sandbox, id, path, offset, want, extra.signal),
        )
        const result = toResult(contextId, path, offset, file)
        // Escapes can make text grow in JSON: halve the read until the result fits.
        if (resultBytes(result) <= MAX_RESULT_BYTES || want <= 1024) return result
        want = Math.floor(want / 2)
      }
    }),
  )
}

/**
 * Reads `length` bytes from `offset`; a read that stops inside a UTF-8 character gives its last
 * bytes back (to the next read), so that a text file read in pieces decodes piece by piece.
 */
async function readText(
  sandbox: SandboxClient,
  id: string,
  path: string,
  offset: number,
  length: number,
  signal: AbortSignal,
): Promise<FileContent> {
  const file = await sandbox.readFile(id, path, { offset, length, signal })
  if (offset + file.bytes.byteLength >= file.size) return file
  const bytes = file.bytes
  // Back up over continuation bytes (10xxxxxx) to the lead byte of a character cut short.
  let end = bytes.byteLength
  for (let back = 1; back <= 3 && end - back >= 0; back++) {
    const byte = bytes[end - back] ?? 0
    if ((byte & 0xc0) === 0x80) continue
    const needs = byte >= 0xf0 ? 4 : byte >= 0xe0 ? 3 : byte >= 0xc0 ? 2 : 1
    if (needs > back) end -= back
    break
  }
  return { ...file, bytes: bytes.subarray(0, end) }
}

/** The read as a tool result: text in the JSON, or an image or resource block after it. */
function toResult(contextId: string, path: string, offset: number, file: FileContent) {
  const whole = offset === 0 && file.bytes.byteLength === file.size
  const classified = classifyFile(file.bytes, file.contentType)
  // A piece of an image is not an image: it comes as binary, to be put together by the client.
  const kind =
    classified.kind === 'image' && !whole ? { ...classified, kind: 'binary' as const } : classified
  const end = offset + file.bytes.byteLength
  const output: ReadFileOutput = {
    context_id: contextId,
    path,
    size: file.size,
    offset,
    length: file.bytes.byteLength,
    ...(end < file.size ? { next_offset: end } : {}),
    mime_type: kind.mimeType,
    kind: kind.kind,
  }
  if (kind.kind === 'text') return jsonResult({ ...output, content: kind.text })
  const data = Buffer.from(file.bytes).toString('base64')
  const block: CallToolResult['content'][number] =
    kind.kind === 'image'
      ? { type: 'image', data, mimeType: kind.mimeType }
      : {
          type: 'resource',
          resource: { uri: fileUri(contextId, path), mimeType: kind.mimeType, blob: data },
        }
  return jsonResult(output, { extra: [block] })
}

/** Names the file for the embedded resource; nothing resolves it, it only tells files apart. */
function fileUri(contextId: string, path: string): string {
  const segments = path.split('/').map(encodeURIComponent).join('/')
  return `sandbox://contexts/${encodeURIComponent(contextId)}/files/${segments}`
}
