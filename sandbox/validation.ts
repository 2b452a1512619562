import type { z } from 'zod'
import { SandboxError } from './errors.js'

/**
 * The one validation hook of every route: a failed zod parse becomes INVALID_PARAMS naming each
 * field path (INVALID_LANGUAGE when the language is what is wrong), never hono's raw 400.
 */
export function validationHook(
  result: { success: true } | { success: false; error: z.ZodError },
): void {
  if (result.success) return
  const issues = result.error.issues.map((issue) => ({
    path: issue.path.join('.') || '(body)',
    message: issue.message,
  }))
  const text = issues.map((issue) => `${issue.path}: ${issue.message}`).join('; ')
  const languageIssue = result.error.issues.some((issue) => issue.path[0] === 'language')
  if (languageIssue) {
    throw new SandboxError(
      'INVALID_LANGUAGE',
      `Unsupported language; use python, javascript or typescript (${text})`,
    )
  }
  throw new SandboxError('INVALID_PARAMS', `Invalid request: ${text}`, { issues })
}
