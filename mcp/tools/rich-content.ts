// What run_code sends of the rich results of a run, and how: the one place that decides, per MIME
// type, between the JSON `results` (text a model reads), image blocks and embedded resources.
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js'
import { z } from 'zod'
import type { ResultEntry } from '../../sandbox/api.js'
import { MAX_RESULT_BYTES } from './fit.js'

type Content = CallToolResult['content'][number]

/** A MIME bundle as JSON Schema can state it: z.json(), not z.unknown(), ports to every client. */
export const JsonBundle = z.record(z.string(), z.json())
export type JsonBundle = z.infer<typeof JsonBundle>

/** Raster images: image blocks, which hosts pass to the model as images. */
const IMAGE_TYPES = ['image/png', 'image/jpeg'] as const
/**
 * Markup a host may render (an HTML table, a folium map, an SVG drawing): embedded text resources,
 * each sent once instead of twice in the JSON. SVG is not an image block: hosts pass image blocks to
 * models that read raster images only (Claude: PNG, JPEG, GIF, WebP), and one they refuse fails the
 * whole turn.
 */
const RESOURCE_TYPES = { 'text/html': 'html', 'image/svg+xml': 'svg' } as const
/**
 * A plotly figure comes as its JSON only: its text/html repeats that JSON around a call of plotly.js,
 * which the HTML does not carry (the library is 3.5 to 8.6 MB, over the 1 MiB result limit) and
 * MCP hosts do not have.
 */
const PLOTLY_TYPE = 'application/vnd.plotly.v1+json'
/** Bytes of blocks (images, resources) in one result, at most; the rest is for the JSON text. */
const BLOCK_BUDGET_BYTES = MAX_RESULT_BYTES - 128 * 1024

const bytes = (value: unknown) => Buffer.byteLength(JSON.stringify(value))

/**
 * Splits the run's results into the JSON `results` and content blocks, all within the result
 * limit: the largest results are left out while they would take more than a quarter of it (the
 * JSON travels twice), then blocks in order while they fit beside them. Whatever is left out is
 * named by a line for stderr, never dropped silently.
 * @param contextId - names the embedded resources
 */
export function richContent(
  entries: readonly ResultEntry[],
  contextId: string,
): { results: JsonBundle[]; blocks: Content[]; notes: string[] } {
  const blocks: Content[] = []
  const split = entries.flatMap((entry, index) => {
    // The bundle was parsed from the sandbox's JSON, so its values are JSON.
    const rest = { ...entry } as JsonBundle
    for (const mimeType of IMAGE_TYPES) {
      const data = entry[mimeType]
      if (typeof data !== 'string') continue
      // Jupyter wraps base64 in newlines; MCP clients expect plain base64.
      blocks.push({ type: 'image', data: data.replace(/\s+/g, ''), mimeType })
      delete rest[mimeType]
    }
    if (PLOTLY_TYPE in entry) delete rest['text/html']
    for (const [mimeType, extension] of Object.entries(RESOURCE_TYPES)) {
      const text = rest[mimeType]
      if (typeof text !== 'string') continue
      const uri = `sandbox://contexts/${encodeURIComponent(contextId)}/results/${index}.${extension}`
      blocks.push({ type: 'resource', resource: { uri, mimeType, text } })
      delete rest[mimeType]
    }
    return Object.keys(rest).filter((key) => key !== 'is_main_result').length ? [rest] : []
  })
  const { results, notes } = resultsWithin(split, MAX_RESULT_BYTES / 4)
  const kept = blocksWithin(blocks, BLOCK_BUDGET_BYTES - 2 * bytes(results))
  return { results, blocks: kept.blocks, notes: [...notes, ...kept.notes] }
}

/** Leaves out the largest results while together they take more than `budget` bytes. */
function resultsWithin(split: JsonBundle[], budget: number) {
  const results = [...split]
  const notes: string[] = []
  let total = results.reduce((sum, bundle) => sum + bytes(bundle), 0)
  while (total > budget && results.length) {
    const largest = results.reduce((a, b) => (bytes(b) > bytes(a) ? b : a))
    results.splice(results.indexOf(largest), 1)
    total -= bytes(largest)
    const types = Object.keys(largest).join(', ')
    notes.push(
      `\n[... a result (${types}) of ${bytes(largest)} bytes not sent: over the ${MAX_RESULT_BYTES} byte result limit ...]\n`,
    )
  }
  return { results, notes }
}

/** The blocks that fit in `budget` bytes, in order; each one left out is named by a note. */
function blocksWithin(blocks: Content[], budget: number) {
  const kept: Content[] = []
  const notes: string[] = []
  let used = 0
  for (const block of blocks) {
    const size = bytes(block)
    if (used + size <= budget) {
      kept.push(block)
      used += size
    } else if (block.type === 'image') {
      notes.push(
        `\n[... ${block.mimeType} image of ${block.data.length} base64 characters not sent: over the ${MAX_RESULT_BYTES} byte result limit; save it with savefig and read it in pieces with read_file ...]\n`,
      )
    } else if (block.type === 'resource') {
      notes.push(
        `\n[... a ${block.resource.mimeType} result of ${size} bytes not sent: over the ${MAX_RESULT_BYTES} byte result limit; write it to a file and read it in pieces with read_file ...]\n`,
      )
    }
  }
  return { blocks: kept, notes }
}
