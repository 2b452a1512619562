import type { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js'
import { z } from 'zod'
import { SandboxApiError } from '../../client/index.js'
import { InlineFile } from '../../sandbox/api.js'
import { toolArguments } from './arguments.js'
import { fileContextId, inFileContext } from './file-context.js'
import type { ToolDeps } from './index.js'
import { jsonResult, withErrorResults } from './results.js'

const WriteFileOutput = z.object({
  context_id: z.string(),
  path: z.string(),
  size: z.number().int().describe('Bytes written'),
  message: z.string(),
})

const input = toolArguments({
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
      inputSchema: input.advertised,
      outputSchema: WriteFileOutput.shape,
      annotations: {
        readOnlyHint: false,
        // It adds files; the one it replaces is the one the caller names.
        destructiveHint: false,
        idempotentHint: true,
        openWorldHint: false,
      },
    },
    withErrorResults(log, async (args, extra) => {
      const { path, content, encoding, context_id } = input.parse(args)
      const bytes = decode(path, content, encoding)
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

/**
 * The file's bytes, checked by the REST API's own InlineFile schema: invalid base64 is refused
 * as it is for one-shot files, with the same message.
 * @throws SandboxApiError INVALID_PARAMS
 */
function decode(path: string, content: string, encoding: 'utf-8' | 'base64'): Uint8Array {
  const parsed = InlineFile.safeParse({ path, content, encoding })
  const issue = parsed.error?.issues.find((i) => i.path[0] === 'content')
  if (issue) throw new SandboxApiError('INVALID_PARAMS', issue.message)
  return Buffer.from(content, encoding === 'base64' ? 'base64' : 'utf8')
}
