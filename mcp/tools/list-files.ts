import type { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js'
import { z } from 'zod'
import { FileList } from '../../sandbox/api.js'
import { toolArguments } from './arguments.js'
import { fileContextId, inFileContext } from './file-context.js'
import type { ToolDeps } from './index.js'
import { jsonResult, withErrorResults } from './results.js'

const ListFilesOutput = FileList.extend({ context_id: z.string() })

const input = toolArguments({
  path: z
    .string()
    .optional()
    .describe(
      'Directory relative to the working directory, e.g. "plots"; omit for the working directory itself',
    ),
  context_id: fileContextId,
})

/** list_files: the entries of a directory in a context's working directory. */
export function registerListFilesTool(
  server: McpServer,
  { sandbox, defaults, log }: ToolDeps,
): void {
  server.registerTool(
    'list_files',
    {
      title: 'List files',
      description:
        "List the files and directories in a code context's working directory, or in a directory inside it, with name, path, type (file, directory, symlink), size in bytes and modification time. Use it to find what code wrote (results, charts) before read_file. Without context_id it lists the default Python context, where run_code without context_id runs. Subdirectories are not listed recursively: pass their path. At most 1000 entries; truncated is true when there are more.",
      inputSchema: input.advertised,
      outputSchema: ListFilesOutput.shape,
      annotations: { readOnlyHint: true, openWorldHint: false },
    },
    withErrorResults(log, async (args, extra) => {
      const { path, context_id } = input.parse(args)
      const { contextId, result } = await inFileContext(defaults, context_id, (id) =>
        sandbox.listFiles(id, path || undefined, { signal: extra.signal }),
      )
      return jsonResult({ ...result, context_id: contextId } satisfies z.infer<
        typeof ListFilesOutput
      >)
    }),
  )
}
