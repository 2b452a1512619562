/**
 * The sandbox REST contract: request, response and stream-event schemas, and the types inferred
 * from them. Pure: both the service and the MCP server import it, and it imports nothing else.
 */
import { z } from 'zod'

export const LANGUAGES = ['python', 'javascript', 'typescript'] as const
export const Language = z.enum(LANGUAGES)
export type Language = z.infer<typeof Language>

export const ERROR_CODES = [
  'INVALID_PARAMS',
  'INVALID_LANGUAGE',
  'NOT_FOUND',
  'UNAUTHORIZED',
  'FORBIDDEN',
  'CONTEXT_NOT_FOUND',
  'FILE_NOT_FOUND',
  'LIMIT_EXCEEDED',
  'EXECUTION_TIMEOUT',
  'EXECUTION_FAILED',
  'UNAVAILABLE',
  'INTERNAL',
] as const
export const ErrorCode = z.enum(ERROR_CODES)
export type ErrorCode = z.infer<typeof ErrorCode>

export const ErrorBody = z.object({
  error: z.object({
    code: ErrorCode,
    message: z.string(),
    reason: z.string().optional(),
    issues: z.array(z.object({ path: z.string(), message: z.string() })).optional(),
  }),
})
export type ErrorBody = z.infer<typeof ErrorBody>

const EnvName = z
  .string()
  .regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'must be a valid environment variable name')
  .max(256)

/** Resource limits of one context (docker runtime); each up to a maximum the service sets. */
export const ContextLimits = z
  .object({
    memory_mb: z
      .number()
      .int()
      .min(128)
      .max(1 << 20)
      .optional()
      .describe('Memory (no swap), MiB'),
    cpus: z.number().positive().max(1024).optional().describe('CPUs, e.g. 0.5'),
    pids: z
      .number()
      .int()
      .min(32)
      .max(1 << 22)
      .optional()
      .describe('Processes and threads'),
    workspace_mb: z
      .number()
      .int()
      .min(1)
      .max(1 << 20)
      .optional()
      .describe('Size of /workspace, MiB'),
    network: z
      .string()
      .regex(/^[A-Za-z0-9][A-Za-z0-9_.-]*$/)
      .max(128)
      .optional()
      .describe('"none" (no network) or a Docker network the service allows'),
  })
  .strict()
export type ContextLimits = z.infer<typeof ContextLimits>

export const AppliedLimits = z.object({
  memory_mb: z.number(),
  cpus: z.number(),
  pids: z.number(),
  workspace_mb: z.number(),
  network: z.string(),
})
export type AppliedLimits = z.infer<typeof AppliedLimits>

export const CreateContextBody = z.object({
  type: z.literal('jupyter').default('jupyter'),
  language: Language.default('python'),
  session_name: z.string().max(256).optional(),
  name: z.string().min(1).max(256).optional(),
  description: z.string().max(4096).optional(),
  working_dir: z
    .string()
    .min(1)
    .max(1024)
    .optional()
    .describe(
      'Directory inside the workspace root; created if missing. Default: a fresh one per context',
    ),
  env: z
    .record(EnvName, z.string().max(64 * 1024))
    .refine((env) => Object.keys(env).length <= 256, 'at most 256 variables')
    .optional(),
  limits: ContextLimits.optional().describe(
    'Per-context resource limits (docker runtime only); unset fields take the defaults',
  ),
})
export type CreateContextBody = z.infer<typeof CreateContextBody>

export const ContextStatus = z.enum(['active', 'stopped', 'error'])
export type ContextStatus = z.infer<typeof ContextStatus>

export const Context = z.object({
  context_id: z.string(),
  type: z.literal('jupyter'),
  language: Language,
  name: z.string(),
  description: z.string(),
  session_name: z.string().optional(),
  status: ContextStatus,
  created_at: z.string(),
  last_used: z.string(),
  working_dir: z.string(),
  message: z.string().optional().describe('Why the context is in status "error"'),
  limits: AppliedLimits.optional().describe('Resource limits of the context (docker runtime)'),
  node: z
    .string()
    .optional()
    .describe('The machine the context runs on, where the runtime knows it (swarm: the node)'),
})
export type Context = z.infer<typeof Context>

export const ContextList = z.object({ contexts: z.array(Context), total: z.number().int() })
export type ContextList = z.infer<typeof ContextList>

export const StoppedContext = z.object({ context_id: z.string(), status: z.literal('stopped') })
export type StoppedContext = z.infer<typeof StoppedContext>

export const ContextIdParam = z.object({ id: z.string() })

export const ExecuteBody = z.object({
  code: z.string(),
  timeout: z
    .number()
    .positive()
    .finite()
    .optional()
    .describe('Seconds before the cell is interrupted; default and maximum are set by the service'),
})
export type ExecuteBody = z.infer<typeof ExecuteBody>

/**
 * Whether `text` is base64 (whitespace allowed, as Jupyter wraps it). Checked before decoding:
 * Buffer.from(text, 'base64') skips bad characters silently and writes a corrupt file.
 */
export function isBase64(text: string): boolean {
  const compact = text.replace(/\s+/g, '')
  return /^[A-Za-z0-9+/]*={0,2}$/.test(compact) && compact.length % 4 !== 1
}

export const InlineFile = z
  .object({
    path: z.string().min(1).max(4096).describe('Relative to the working directory'),
    content: z.string(),
    encoding: z.enum(['utf-8', 'base64']).default('utf-8'),
  })
  .superRefine((file, context) => {
    if (file.encoding === 'base64' && !isBase64(file.content)) {
      context.addIssue({
        code: 'custom',
        path: ['content'],
        message:
          'content is not valid base64; send the bytes base64-encoded (A-Z, a-z, 0-9, +, /), or text with encoding "utf-8"',
      })
    }
  })
export type InlineFile = z.infer<typeof InlineFile>

export const OneShotExecuteBody = ExecuteBody.extend({
  language: Language.default('python'),
  files: z
    .array(InlineFile)
    .max(1000)
    .optional()
    .describe('Written into a fresh working directory first'),
})
export type OneShotExecuteBody = z.infer<typeof OneShotExecuteBody>

export const FilePathQuery = z.object({
  path: z.string().min(1).max(4096).describe('Relative to the context working directory'),
})

export const ListFilesQuery = z.object({
  path: z
    .string()
    .min(1)
    .max(4096)
    .optional()
    .describe('Directory to list; default the working directory'),
  limit: z.coerce.number().int().min(1).max(10_000).default(1000),
})

export const FileEntry = z.object({
  name: z.string(),
  path: z.string().describe('Relative to the working directory'),
  type: z.enum(['file', 'directory', 'symlink']),
  size: z.number().int(),
  modified: z.string(),
})
export type FileEntry = z.infer<typeof FileEntry>

export const FileList = z.object({
  path: z.string(),
  entries: z.array(FileEntry),
  truncated: z.boolean().describe('More entries exist than `limit`'),
})
export type FileList = z.infer<typeof FileList>

export const FilesWritten = z.object({
  files: z.array(z.object({ path: z.string(), size: z.number().int() })),
})
export type FilesWritten = z.infer<typeof FilesWritten>

/** A rich output keyed by MIME type: `{"text/plain": "2", "image/png": "<base64>"}`. */
export const MimeBundle = z.record(z.string(), z.unknown())
export type MimeBundle = z.infer<typeof MimeBundle>

/**
 * One entry of an execution's `results`: a MIME bundle, plus `is_main_result: true` on the cell's
 * value (the execute_result, as E2B marks it); displays (plots, display()) do not carry the key.
 * Keys without a "/" are not MIME types.
 */
export const ResultEntry = z
  .object({
    is_main_result: z
      .literal(true)
      .optional()
      .describe("Set on the cell's value (its last expression); absent on displays"),
  })
  .catchall(z.unknown())
export type ResultEntry = z.infer<typeof ResultEntry>

export const ExecutionError = z.object({
  name: z
    .string()
    .describe('Exception name, or EXECUTION_TIMEOUT / EXECUTION_FAILED for sandbox verdicts'),
  value: z.string(),
  traceback: z.string(),
  code: ErrorCode.optional().describe('Set when the sandbox, not the code, ended the execution'),
  reason: z.string().optional(),
})
export type ExecutionError = z.infer<typeof ExecutionError>

export const ExecutionResult = z.object({
  success: z.boolean(),
  output: z.object({
    stdout: z.string(),
    stderr: z.string(),
    truncated: z.boolean(),
    truncated_chars: z.number().int().describe('Characters of output dropped beyond the limit'),
  }),
  results: z.array(ResultEntry),
  error: ExecutionError.optional(),
  execution_count: z.number().int().nullable(),
  execution_time: z.number().describe('Seconds'),
  context_restarted: z
    .boolean()
    .describe('True when the kernel was restarted and its state is gone'),
})
export type ExecutionResult = z.infer<typeof ExecutionResult>

/** Events of `Accept: text/event-stream` executes, in the order output is produced. */
export const ExecutionEvent = z.discriminatedUnion('type', [
  z.object({ type: z.literal('stdout'), text: z.string() }),
  z.object({ type: z.literal('stderr'), text: z.string() }),
  z.object({ type: z.literal('result'), data: ResultEntry }),
  z.object({ type: z.literal('error'), error: ExecutionError }),
  z.object({ type: z.literal('end'), result: ExecutionResult }),
])
export type ExecutionEvent = z.infer<typeof ExecutionEvent>
