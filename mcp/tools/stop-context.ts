import type { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js'
import { z } from 'zod'
import { toolArguments } from './arguments.js'
import type { ToolDeps } from './index.js'
import { jsonResult, withErrorResults } from './results.js'

const StopContextOutput = z.object({
  context_id: z.string(),
  status: z.literal('stopped'),
  message: z.string(),
})

const input = toolArguments({
  context_id: z
    .string()
    .min(1)
    .describe('Id of the context to stop, from create_context or list_contexts'),
})

/** stop_context: stops a context's kernel; its variables and files are gone. */
export function registerStopContextTool(server: McpServer, { sandbox, log }: ToolDeps): void {
  server.registerTool(
    'stop_context',
    {
      title: 'Stop context',
      description:
        'Stop a code context: its kernel shuts down and every variable, import and file in it is lost. Use it when a task is done, to free resources. Stopping a default context is allowed; run_code creates a fresh one on its next call without context_id.',
      inputSchema: input.advertised,
      outputSchema: StopContextOutput.shape,
      annotations: { readOnlyHint: false, destructiveHint: true, openWorldHint: false },
    },
    withErrorResults(log, async (args, extra) => {
      const { context_id } = input.parse(args)
      const stopped = await sandbox.stopContext(context_id, { signal: extra.signal })
      return jsonResult({
        ...stopped,
        message: `Context ${stopped.context_id} stopped; its state is gone`,
      } satisfies z.infer<typeof StopContextOutput>)
    }),
  )
}
