import type { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js'
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js'
import { z } from 'zod'
import { SandboxApiError } from '../../client/index.js'
import { toolArguments } from './arguments.js'
import { fileContextId, inFileContext } from './file-context.js'
import { classifyFile } from './file-kind.js'
import type { ToolDeps } from './index.js'
import { jsonResult, withErrorResults } from './results.js'

/** What read_file returns inline; a larger file is refused, not cut, so no one reads half a file. */
const MAX_READ_BYTES = 10 * 1024 * 1024 // 10 MiB

const ReadFileOutput = z.object({
  context_id: z.string(),
  path: z.string(),
  size: z.number().int().describe('Bytes'),
  mime_type: z.string(),
  kind: z
    .enum(['text', 'image', 'binary'])
    .describe(
      'text: the file is in content; image: it comes as an image block; binary: as an embedded resource, base64',
    ),
  content: z.string().optional().describe('The text of the file (kind text only), unchanged'),
})
type ReadFileOutput = z.infer<typeof ReadFileOutput>

const input = toolArguments({
  path: z
    .string()
    .describe(
      'File path relative to the working directory, e.g. "result.csv" or "plots/chart.png"; absolute paths and ".." are refused',
    ),
  context_id: fileContextId,
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
        'Read a file from a code context\'s working directory: a result file, a chart or data that code wrote there, or a file from write_file. Without context_id it reads from the default Python context, where run_code without context_id runs, so a file that code saved as "out.csv" is read with path "out.csv". UTF-8 text comes back as text in content; PNG, JPEG, GIF and WebP images as an image block; other binary files as an embedded resource (base64) with their MIME type. At most 10 MiB is returned: for larger files, use run_code to inspect or summarise them (e.g. pandas head()), or to write a smaller extract to read.',
      inputSchema: input.advertised,
      outputSchema: ReadFileOutput.shape,
      annotations: { readOnlyHint: true, openWorldHint: false },
    },
    withErrorResults(log, async (args, extra) => {
      const { path, context_id } = input.parse(args)
      const { contextId, result: file } = await inFileContext(defaults, context_id, (id) =>
        sandbox.readFile(id, path, { signal: extra.signal, maxBytes: MAX_READ_BYTES }).catch(hint),
      )
      const kind = classifyFile(file.bytes, file.contentType)
      const output: ReadFileOutput = {
        context_id: contextId,
        path,
        size: file.bytes.byteLength,
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
    }),
  )
}

/** Points a model that hit the size limit to what it can do instead. */
function hint(error: unknown): never {
  if (error instanceof SandboxApiError && error.code === 'LIMIT_EXCEEDED') {
    throw new SandboxApiError(
      'LIMIT_EXCEEDED',
      `${error.message}: read_file returns at most ${MAX_READ_BYTES / 1024 / 1024} MiB. Use run_code to inspect or summarise the file, or to write a smaller extract and read that`,
      { reason: 'file_size' },
    )
  }
  throw error
}

/** Names the file for the embedded resource; nothing resolves it, it only tells files apart. */
function fileUri(contextId: string, path: string): string {
  const segments = path.split('/').map(encodeURIComponent).join('/')
  return `sandbox://contexts/${encodeURIComponent(contextId)}/files/${segments}`
}
