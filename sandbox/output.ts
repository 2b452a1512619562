import type { KernelMessage } from '@jupyterlab/services'
import type { ExecutionError, ExecutionEvent, MimeBundle, ResultEntry } from './api.js'
import { truncationMarker } from './common.js'

// Control sequences that colour IPython tracebacks; clients want plain text.
// biome-ignore lint/suspicious/noControlCharactersInRegex: matching ESC is the point
const ANSI = /\u001b\[[0-9;?]*[ -/]*[@-~]/g

export function stripAnsi(text: string): string {
  return text.replace(ANSI, '')
}

/** The last `capacity` characters of a stream, kept in chunks so a flood costs O(1) per message. */
class Tail {
  private chunks: string[] = []
  private length = 0

  constructor(private readonly capacity: number) {}

  push(text: string): void {
    this.chunks.push(text)
    this.length += text.length
    while (this.chunks.length > 1 && this.length - (this.chunks[0]?.length ?? 0) >= this.capacity) {
      this.length -= this.chunks.shift()?.length ?? 0
    }
  }

  /** The kept text: at most `capacity` characters. */
  take(): string {
    const text = this.chunks.join('')
    return text.length > this.capacity ? text.slice(text.length - this.capacity) : text
  }

  get size(): number {
    return Math.min(this.length, this.capacity)
  }
}

type StreamName = 'stdout' | 'stderr'

/** What a Python kernel dropped at the source past its own cap (see python_kernel.py). */
const DROPPED_MIME = 'application/vnd.sci.dropped+json'

/**
 * Characters of images (base64) kept per execution, apart from the text budget: one big figure
 * must not crowd out the text, nor the text the figure. A Python kernel shrinks each image to
 * half of this before sending it (python_kernel.py); images past the budget are dropped with a
 * marker in their result's text/plain.
 */
export const MAX_IMAGE_CHARS = 2 * 1024 * 1024

const isImage = (mime: string, value: unknown): value is string =>
  mime.startsWith('image/') && typeof value === 'string'

/** Adds a line to a bundle's text/plain, or makes it. */
function withNote(bundle: ResultEntry, note: string): ResultEntry {
  const text = bundle['text/plain']
  return { ...bundle, 'text/plain': typeof text === 'string' ? `${text}\n${note}` : note }
}

/**
 * Collects one execution's IOPub output within a character budget. Output up to the head budget is kept
 * and streamed as events; beyond it only the last part of each stream is kept (reported at the end),
 * and everything else is counted as truncated. Memory stays bounded whatever the kernel prints.
 */
export class OutputCollector {
  private readonly head = { stdout: [] as string[], stderr: [] as string[] }
  private readonly tail: Record<StreamName, Tail>
  private readonly results: ResultEntry[] = []
  private headBudget: number
  private imageBudget: number
  private seen = { stdout: 0, stderr: 0 }
  private kept = { stdout: 0, stderr: 0 }
  private droppedResultChars = 0
  private droppedAtSource = 0
  error: ExecutionError | undefined
  executionCount: number | null = null

  /**
   * @param maxChars - budget (UTF-16 code units) for stdout, stderr and rich results together,
   *   images apart
   * @param onEvent - receives each kept piece of output as it arrives
   * @param maxImageChars - budget for the images (base64) of rich results
   * @default maxImageChars MAX_IMAGE_CHARS
   */
  constructor(
    maxChars: number,
    private readonly onEvent: (event: ExecutionEvent) => void = () => {},
    maxImageChars = MAX_IMAGE_CHARS,
  ) {
    this.imageBudget = maxImageChars
    const tailBytes = Math.min(Math.floor(maxChars / 4), 64 * 1024)
    this.headBudget = maxChars - tailBytes
    const perStream = Math.floor(tailBytes / 2)
    this.tail = { stdout: new Tail(perStream), stderr: new Tail(perStream) }
  }

  /** Routes one IOPub message of this execution. */
  handle(msg: KernelMessage.IIOPubMessage): void {
    const content = msg.content as Record<string, unknown>
    switch (msg.header.msg_type) {
      case 'stream':
        this.addText(content.name === 'stderr' ? 'stderr' : 'stdout', String(content.text ?? ''))
        break
      case 'execute_result':
        this.executionCount = (content.execution_count as number | undefined) ?? this.executionCount
        this.addResult(content.data as MimeBundle, true)
        break
      case 'display_data': {
        const data = content.data as MimeBundle
        const dropped = data[DROPPED_MIME] as { chars?: number } | undefined
        if (dropped) this.droppedAtSource += dropped.chars ?? 0
        else this.addResult(data, false)
        break
      }
      case 'error':
        this.addError(content)
        break
      case 'execute_input':
        this.executionCount = (content.execution_count as number | undefined) ?? null
        break
    }
  }

  /** Records the verdict of the execution (a user exception, or the sandbox's own). */
  setError(error: ExecutionError): void {
    this.error = error
    this.onEvent({ type: 'error', error })
  }

  /** The collected output, with a marker where text was cut. */
  output() {
    const stream = (name: StreamName) => {
      const head = this.head[name].join('')
      const tail = this.tail[name].take()
      const cut = this.seen[name] - this.kept[name] - tail.length
      if (cut <= 0) return head + tail
      return `${head}${truncationMarker(cut, name)}${tail}`
    }
    const truncatedChars =
      this.seen.stdout -
      this.kept.stdout -
      this.tail.stdout.size +
      (this.seen.stderr - this.kept.stderr - this.tail.stderr.size) +
      this.droppedResultChars +
      this.droppedAtSource
    return {
      output: {
        stdout: stream('stdout'),
        stderr: stream('stderr'),
        truncated: truncatedChars > 0,
        truncated_chars: truncatedChars,
      },
      results: this.results,
    }
  }

  private addText(name: StreamName, text: string): void {
    this.seen[name] += text.length
    if (this.headBudget > 0 && this.tail[name].size === 0) {
      const kept = text.length <= this.headBudget ? text : text.slice(0, this.headBudget)
      this.headBudget -= kept.length
      this.kept[name] += kept.length
      this.head[name].push(kept)
      this.onEvent({ type: name, text: kept })
      if (kept.length === text.length) return
      text = text.slice(kept.length)
    }
    this.tail[name].push(text)
  }

  /**
   * A raised exception: the verdict, and its traceback as plain text in stderr, where a terminal
   * (and the earlier local sandbox) shows it.
   */
  private addError(content: Record<string, unknown>): void {
    const name = String(content.ename ?? 'Error')
    const value = stripAnsi(String(content.evalue ?? ''))
    const traceback = stripAnsi(((content.traceback as string[] | undefined) ?? []).join('\n'))
    this.setError({ name, value, traceback })
    const text = traceback || `${name}: ${value}`
    this.addText('stderr', text.endsWith('\n') ? text : `${text}\n`)
  }

  /**
   * Keeps a rich result: its images within the image budget, the rest within the text budget.
   * Whatever does not fit is replaced by a note saying what was dropped, never silently.
   * @param main - the cell's value (execute_result), marked `is_main_result`
   */
  private addResult(data: MimeBundle, main: boolean): void {
    let entry: ResultEntry = {}
    const notes: string[] = []
    for (const [mime, value] of Object.entries(data)) {
      if (!isImage(mime, value)) entry[mime] = value
      else if (value.length <= this.imageBudget) {
        this.imageBudget -= value.length
        entry[mime] = value
      } else {
        this.droppedResultChars += value.length
        notes.push(
          `[... ${mime} of ${value.length} characters dropped: over the ${this.imageBudget}-character image budget left in this execution ...]`,
        )
      }
    }
    const textSize = JSON.stringify(entry).length - imageChars(entry)
    if (textSize > this.headBudget) {
      this.droppedResultChars += textSize
      const images = Object.fromEntries(Object.entries(entry).filter(([m, v]) => isImage(m, v)))
      notes.unshift(
        `[... result of ${textSize} characters dropped: over the ${this.headBudget}-character output budget left in this execution ...]`,
      )
      entry = images
    } else this.headBudget -= textSize
    for (const note of notes) entry = withNote(entry, note)
    if (main) entry.is_main_result = true
    this.results.push(entry)
    this.onEvent({ type: 'result', data: entry })
  }
}

function imageChars(bundle: ResultEntry): number {
  let chars = 0
  for (const [mime, value] of Object.entries(bundle))
    if (isImage(mime, value)) chars += value.length
  return chars
}
