import type { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js'
import { ContextList } from '../../sandbox/api.js'
import type { ToolDeps } from './index.js'
import { jsonResult, withErrorResults } from './results.js'

/** list_contexts: every live context of the sandbox, newest first. */
export function registerListContextsTool(server: McpServer, { sandbox, log }: ToolDeps): void {
  server.registerTool(
    'list_contexts',
    {
      title: 'List contexts',
      description:
        'List the live code contexts, newest first, with their id, name, language and status. Use it to find a context_id to pass to run_code or stop_context. The default contexts that run_code uses without a context_id are listed too, named default-<language>.',
      inputSchema: {},
      outputSchema: ContextList.shape,
      annotations: { readOnlyHint: true, openWorldHint: false },
    },
    withErrorResults(log, async (_args, extra) =>
      jsonResult(await sandbox.listContexts({ signal: extra.signal })),
    ),
  )
}
