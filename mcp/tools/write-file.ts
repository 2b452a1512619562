import type { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js'
import { z } from 'zod'
import { SandboxApiError } from '../sandbox-client.js'
import { fileContextId, inFileContext } from './file-context.js'
import type { ToolDeps } from './index.js'
import { jsonResult, withErrorResults } from './results.js'

const WriteFileOutput = z.object({
  context_id: z.string(),
  path: z.string(),
  size: z.number().int().describe('Bytes written'),
  message: z.string(),
})

/** write_file: creates or overwrites a file in a context's working directory. */
export function registerWriteFileTool(
  server: McpServer,
  { sandbox, defaults, log }: ToolDeps,
): void {
  server.registerTool(
    'write_file',
    {
      title: 'Write file',
      description:
        'Write a file into a code context\'s working directory, for code to read: data to analyse (CSV, JSON), a script, a config. Without context_id it writes to the default Python context, where run_code without context_id runs, so code there opens it by the same relative path, e.g. pandas.read_csv("data.csv"). Parent directories are created. An existing file at the path is overwritten. Text is written as UTF-8; for binary files (images, archives, spreadsheets) send base64 with encoding "base64". Files are limited to the sandbox\'s maximum file size (100 MiB unless configured).',
      inputSchema: {
        path: z
          .string()
          .describe(
            'File path relative to the working directory, e.g. "data.csv" or "input/data.csv"; absolute paths and ".." are refused',
          ),
        content: z
          .string()
          .describe('The whole file: text, or its bytes as base64 when encoding is "base64"'),
        encoding: z
          .enum(['utf-8', 'base64'])
          .default('utf-8')
          .describe('How content is encoded: utf-8 for text (default), base64 for binary'),
        context_id: fileContextId,
      },
      outputSchema: WriteFileOutput.shape,
      annotations: {
        readOnlyHint: false,
        // It adds files; the one it replaces is the one the caller names.
        destructiveHint: false,
        idempotentHint: true,
        openWorldHint: false,
      },
    },
    withErrorResults(log, async ({ path, content, encoding, context_id }, extra) => {
      const bytes = decode(content, encoding)
      const { contextId, result } = await inFileContext(defaults, context_id, (id) =>
        sandbox.writeFile(id, path, bytes, { signal: extra.signal }),
      )
      const size = result.files[0]?.size ?? bytes.byteLength
      return jsonResult({
        context_id: contextId,
        path,
        size,
        message: `Wrote ${size} bytes to ${path} in context ${contextId}; code there opens it as "${path}"`,
      } satisfies z.infer<typeof WriteFileOutput>)
    }),
  )
}

/** The file's bytes. Invalid base64 is refused: Buffer.from would skip the bad characters silently. */
function decode(content: string, encoding: 'utf-8' | 'base64'): Uint8Array {
  if (encoding === 'utf-8') return Buffer.from(content, 'utf8')
  const compact = content.replace(/\s+/g, '')
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(compact) || compact.length % 4 === 1) {
    throw new SandboxApiError(
      'INVALID_PARAMS',
      'content is not valid base64; send the bytes base64-encoded (A-Z, a-z, 0-9, +, /), or text with encoding "utf-8"',
    )
  }
  return Buffer.from(compact, 'base64')
}
