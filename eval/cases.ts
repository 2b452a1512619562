import { z } from 'zod'
import { Language } from '../sandbox/api.js'

/**
 * One line of a cases file. Fields beyond these are ignored, so benchmark files that carry
 * metadata (prompts, references) can be evaluated as they are.
 */
export const EvalCase = z.object({
  // Benchmarks number their items as often as they name them; both become a string id.
  id: z.union([z.string().min(1), z.number().int()]).transform(String),
  language: Language.default('python'),
  code: z.string(),
  expected_stdout: z.string().optional(),
  setup: z.string().optional(),
  test: z.string().optional(),
})
export type EvalCase = z.infer<typeof EvalCase>

/** A line that could not be read as a case; it is reported as an `error` result, not a crash. */
export type InvalidCase = { id: string; message: string }

/** Every non-blank line of a cases file, as a case to run or as the reason it cannot run. */
export type ParsedLine = { ok: true; value: EvalCase } | { ok: false; value: InvalidCase }

/**
 * Parses JSONL cases, one per line; blank lines are skipped.
 * @param text - the whole file
 * @returns one entry per non-blank line, in file order. An invalid line keeps its own id when it
 * has a usable one; a repeated id is invalid from its second use. Either way result ids are unique.
 */
export function parseCases(text: string): ParsedLine[] {
  const seen = new Set<string>()
  const parsed: ParsedLine[] = []
  for (const [index, raw] of text.split('\n').entries()) {
    if (raw.trim() === '') continue
    const line = index + 1
    const entry = parseLine(raw)
    let id = entry.ok ? entry.value.id : (entry.id ?? `line-${line}`)
    if (seen.has(id)) {
      if (entry.ok) {
        parsed.push(
          invalid(`line-${line}`, line, `id ${JSON.stringify(id)} is used by an earlier line`),
        )
        continue
      }
      id = `line-${line}`
    }
    seen.add(id)
    parsed.push(entry.ok ? entry : invalid(id, line, entry.message))
  }
  return parsed
}

function parseLine(
  raw: string,
): { ok: true; value: EvalCase } | { ok: false; id?: string; message: string } {
  let json: unknown
  try {
    json = JSON.parse(raw)
  } catch (error) {
    return { ok: false, message: `not JSON: ${(error as Error).message}` }
  }
  const result = EvalCase.safeParse(json)
  if (result.success) return { ok: true, value: result.data }
  const issues = result.error.issues.map(
    (issue) => `${issue.path.join('.') || '(line)'}: ${issue.message}`,
  )
  const id = (json as { id?: unknown } | null)?.id
  const usable = (typeof id === 'string' && id !== '') || Number.isInteger(id)
  return { ok: false, id: usable ? String(id) : undefined, message: issues.join('; ') }
}

function invalid(id: string, line: number, message: string): ParsedLine {
  return { ok: false, value: { id, message: `line ${line}: ${message}` } }
}
