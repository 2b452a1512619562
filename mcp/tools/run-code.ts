import type { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js'
import type { RequestHandlerExtra } from '@modelcontextprotocol/sdk/shared/protocol.js'
import type {
  CallToolResult,
  ServerNotification,
  ServerRequest,
} from '@modelcontextprotocol/sdk/types.js'
import { z } from 'zod'
import type { ExecuteOptions } from '../../client/index.js'
import { ErrorCode, type ExecutionError, type ExecutionResult } from '../../sandbox/api.js'
import { toolArguments } from './arguments.js'
import { fitResult } from './fit.js'
import type { ToolDeps } from './index.js'
import { parseLanguage } from './language.js'
import { jsonResult, withErrorResults } from './results.js'
import { JsonBundle, richContent } from './rich-content.js'

type Extra = RequestHandlerExtra<ServerRequest, ServerNotification>

const RunCodeOutput = z.object({
  success: z.boolean().describe('False when the code raised, timed out or its kernel failed'),
  stdout: z.string(),
  stderr: z.string(),
  results: z
    .array(JsonBundle)
    .describe(
      'Values the code displayed (the last expression, display()) by MIME type: text/plain, text/latex, application/json, a plotly figure as application/vnd.plotly.v1+json, ... PNG and JPEG images come as image blocks instead, HTML and SVG as embedded resources (sandbox://contexts/<id>/results/<index>.html or .svg)',
    ),
  error: z
    .object({
      code: ErrorCode.optional().describe(
        'EXECUTION_TIMEOUT or EXECUTION_FAILED when the sandbox ended the run, not the code',
      ),
      reason: z.string().optional().describe('Narrows the code, e.g. kernel_died'),
      message: z.string(),
      name: z.string().describe('Exception name, or the code when the sandbox ended the run'),
      value: z.string(),
      traceback: z.string(),
    })
    .optional(),
  execution_count: z.number().int().nullable(),
  execution_time: z.number().describe('Seconds'),
  truncated: z.boolean().describe('True when output beyond the size limit was cut'),
  context_id: z.string(),
  context_restarted: z
    .boolean()
    .describe('True when the kernel was restarted: every variable of the context is gone'),
})
type RunCodeOutput = z.infer<typeof RunCodeOutput>

const input = toolArguments({
  code: z
    .string()
    .describe(
      'Code to run. The value of the last expression is returned in results, as in a notebook',
    ),
  context_id: z
    .string()
    .optional()
    .describe(
      'Context to run in, from create_context or list_contexts. Omit for the default context of the language',
    ),
  language: z
    .string()
    .optional()
    .describe(
      'python (default), javascript or typescript: picks the default context when context_id is omitted; ignored otherwise',
    ),
  timeout: z
    .number()
    .optional()
    .describe(
      'Seconds before the run is interrupted; the sandbox sets the default (30 s unless configured) and the maximum',
    ),
})

/** run_code: runs code in a context, or in the default context of its language. */
export function registerRunCodeTool(server: McpServer, { sandbox, defaults, log }: ToolDeps): void {
  server.registerTool(
    'run_code',
    {
      title: 'Run code',
      description:
        'Run code in a stateful kernel, like a notebook cell, and get its output. Variables, imports, functions and files persist between calls in the same context: without context_id, each language has one default context that this server keeps across calls, so a later call can use what an earlier one defined; pass a context_id from create_context to work in an isolated context instead. Languages: python (numpy, pandas, matplotlib: plots come back as images; plotly figures as their JSON; HTML tables, maps and SVG as embedded resources), javascript and typescript (Node.js, with papaparse, date-fns, mathjs and lodash). Returns JSON {stdout, stderr, success, results, error, execution_time, …}; code that raises returns success: false and the traceback. A run longer than its timeout is interrupted and reported as EXECUTION_TIMEOUT; the context keeps its state unless its kernel had to be restarted (context_restarted: true).',
      inputSchema: input.advertised,
      outputSchema: RunCodeOutput.shape,
      annotations: { readOnlyHint: false, destructiveHint: true, openWorldHint: false },
    },
    withErrorResults(log, async (args, extra) => {
      const { code, context_id, language, timeout } = input.parse(args)
      const body = timeout === undefined ? { code } : { code, timeout }
      const options: ExecuteOptions = { signal: extra.signal, onEvent: progressReporter(extra) }
      // Models often send "" for an argument they mean to omit.
      const { contextId, result } = context_id
        ? { contextId: context_id, result: await sandbox.execute(context_id, body, options) }
        : await defaults.execute(parseLanguage(language || 'python'), body, options)
      return toToolResult(contextId, result)
    }),
  )
}

/**
 * Sends each output chunk as a progress notification, when the client asked for progress by
 * sending a progress token. Without one, run_code uses the plain JSON execute: one round trip.
 */
function progressReporter(extra: Extra): ExecuteOptions['onEvent'] {
  const progressToken = extra._meta?.progressToken
  if (progressToken === undefined) return undefined
  let progress = 0
  return async function reportOutput(event) {
    if (event.type !== 'stdout' && event.type !== 'stderr') return
    progress += 1
    await extra
      .sendNotification({
        method: 'notifications/progress',
        params: { progressToken, progress, message: event.text },
      })
      // A client gone mid-run must not fail the run; the result would go nowhere anyway.
      .catch(() => undefined)
  }
}

/**
 * The run as a tool result: JSON text and structuredContent, then its images as image blocks and
 * its HTML and SVG as embedded resources (rich-content.ts).
 */
function toToolResult(contextId: string, result: ExecutionResult): CallToolResult {
  const { results, blocks, notes } = richContent(result.results, contextId)
  const { error } = result
  const output: RunCodeOutput = {
    success: result.success,
    stdout: result.output.stdout,
    stderr: result.output.stderr + notes.join(''),
    results,
    ...(error ? { error: toolError(error) } : {}),
    execution_count: result.execution_count,
    execution_time: result.execution_time,
    truncated: result.output.truncated || notes.length > 0,
    context_id: contextId,
    context_restarted: result.context_restarted,
  }
  // Code that raises is a normal result; the sandbox ending the run (timeout, dead kernel) is not.
  const isError = error?.code !== undefined
  const fitted = fitResult(output, ['stdout', 'stderr'], (value) =>
    jsonResult(value, { extra: blocks, isError }),
  )
  if (!fitted.cut) return fitted.result
  const cut = { ...(fitted.result.structuredContent as RunCodeOutput), truncated: true }
  return jsonResult(cut, { extra: blocks, isError })
}

function toolError(error: ExecutionError): NonNullable<RunCodeOutput['error']> {
  const { code, reason, name, value, traceback } = error
  return {
    ...(code ? { code } : {}),
    ...(reason ? { reason } : {}),
    message: code ? value : `${name}: ${value}`,
    name,
    value,
    traceback,
  }
}
