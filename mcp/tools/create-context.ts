import type { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js'
import { z } from 'zod'
import { Language } from '../../sandbox/api.js'
import { toolArguments } from './arguments.js'
import type { ToolDeps } from './index.js'
import { parseLanguage } from './language.js'
import { jsonResult, withErrorResults } from './results.js'

const CreateContextOutput = z.object({
  context_id: z.string(),
  name: z.string(),
  language: Language,
  description: z.string(),
  created_at: z.string(),
  status: z.literal('active'),
  message: z.string(),
})

const input = toolArguments({
  name: z.string().min(1).describe('Short name to recognise the context by in list_contexts'),
  language: z.string().default('python').describe('python, javascript or typescript'),
  description: z.string().default('').describe('What the context is for'),
})

/** create_context: a new kernel whose state persists across run_code calls. */
export function registerCreateContextTool(server: McpServer, { sandbox, log }: ToolDeps): void {
  server.registerTool(
    'create_context',
    {
      title: 'Create context',
      description:
        'Create a new, isolated code context: a stateful kernel (like a notebook) where variables, imports, functions and files persist across run_code calls that pass its context_id. Use it to keep separate tasks apart or to start from a clean state; for a quick computation, run_code without context_id is enough. Languages: python (with numpy, pandas, matplotlib), javascript and typescript (Node.js). Call stop_context when done.',
      inputSchema: input.advertised,
      outputSchema: CreateContextOutput.shape,
      annotations: { readOnlyHint: false, destructiveHint: false, openWorldHint: false },
    },
    withErrorResults(log, async (args, extra) => {
      const { name, language, description } = input.parse(args)
      const context = await sandbox.createContext(
        { name, language: parseLanguage(language || 'python'), description },
        { signal: extra.signal },
      )
      return jsonResult({
        context_id: context.context_id,
        name: context.name,
        language: context.language,
        description: context.description,
        created_at: context.created_at,
        status: 'active',
        message: `Context "${context.name}" (${context.language}) created; pass context_id "${context.context_id}" to run_code to use it`,
      } satisfies z.infer<typeof CreateContextOutput>)
    }),
  )
}
