import { type CaseResult, STATUSES } from './judge.js'

/** How many ids of cases that did not pass the summary names. */
const MAX_LISTED = 20

/**
 * A Markdown summary of a run: cases by language and status, throughput, and the first cases that
 * did not pass. Markdown, so CI can append it to a job summary as it is.
 * @param results - the finished cases
 * @param total - the cases in the file; more than `results.length` after an interrupt
 * @param wallS - seconds the run took
 */
export function summarize(results: CaseResult[], total: number, wallS: number): string {
  const languages = [...new Set(results.map((result) => result.language ?? '(invalid line)'))]
  const row = (name: string, rows: CaseResult[]) =>
    `| ${name} | ${STATUSES.map((status) => rows.filter((r) => r.status === status).length).join(' | ')} | ${rows.length} |`
  const lines = [
    `| language | ${STATUSES.join(' | ')} | cases |`,
    `| --- |${' ---: |'.repeat(STATUSES.length + 1)}`,
    ...languages.map((language) =>
      row(
        language,
        results.filter((result) => (result.language ?? '(invalid line)') === language),
      ),
    ),
    row('**all**', results),
    '',
    `${results.length} of ${total} cases finished in ${wallS.toFixed(1)} s (${(results.length / wallS).toFixed(2)} cases/s).`,
  ]
  const failing = results.filter((result) => result.status !== 'pass')
  if (failing.length > 0) {
    const listed = failing.slice(0, MAX_LISTED).map((result) => `${result.id} (${result.status})`)
    const more = failing.length > MAX_LISTED ? `, and ${failing.length - MAX_LISTED} more` : ''
    lines.push(`Not passing: ${listed.join(', ')}${more}.`)
  }
  return `${lines.join('\n')}\n`
}
