/** One line of a benchmark table: milliseconds. */
export type Row = { name: string; p50: number; p95: number; n: number }

function percentile(sorted: number[], q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * q))] ?? Number.NaN
}

/** p50 and p95 of `samples` (milliseconds). */
export function summarize(name: string, samples: number[]): Row {
  const sorted = [...samples].sort((a, b) => a - b)
  return { name, p50: percentile(sorted, 0.5), p95: percentile(sorted, 0.95), n: samples.length }
}

/** A Markdown table of rows. */
export function table(rows: Row[]): string {
  const lines = ['| measurement | p50 ms | p95 ms | n |', '| --- | ---: | ---: | ---: |']
  for (const row of rows)
    lines.push(`| ${row.name} | ${row.p50.toFixed(2)} | ${row.p95.toFixed(2)} | ${row.n} |`)
  return lines.join('\n')
}
