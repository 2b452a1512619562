import type { KernelMessage } from '@jupyterlab/services'
import type { ExecutionError, ExecutionEvent, MimeBundle } from './api.js'
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
 * Collects one execution's IOPub output within a character budget. Output up to the head budget is kept
 * and streamed as events; beyond it only the last part of each stream is kept (reported at the end),
 * and everything else is counted as truncated. Memory stays bounded whatever the kernel prints.
 */
export class OutputCollector {
  private readonly head = { stdout: [] as string[], stderr: [] as string[] }
  private readonly tail: Record<StreamName, Tail>
  private readonly results: MimeBundle[] = []
  private headBudget: number
  private seen = { stdout: 0, stderr: 0 }
  private kept = { stdout: 0, stderr: 0 }
  private droppedResultChars = 0
  private droppedAtSource = 0
  error: ExecutionError | undefined
  executionCount: number | null = null

  /**
   * @param maxChars - budget (UTF-16 code units) for stdout, stderr and rich results together
   * @param onEvent - receives each kept piece of output as it arrives
   */
  constructor(
    maxChars: number,
    private readonly onEvent: (event: ExecutionEvent) => void = () => {},
  ) {
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
        this.addResult(content.data as MimeBundle)
        break
      case 'display_data': {
        const data = content.data as MimeBundle
        const dropped = data[DROPPED_MIME] as { chars?: number } | undefined
        if (dropped) this.droppedAtSource += dropped.chars ?? 0
        else this.addResult(data)
        break
      }
      case 'error':
        this.setError({
          name: String(content.ename ?? 'Error'),
          value: stripAnsi(String(content.evalue ?? '')),
          traceback: stripAnsi(((content.traceback as string[] | undefined) ?? []).join('\n')),
        })
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

  private addResult(data: MimeBundle): void {
    const size = JSON.stringify(data).length
    if (size > this.headBudget) {
      this.droppedResultChars += size
      return
    }
    this.headBudget -= size
    this.results.push(data)
    this.onEvent({ type: 'result', data })
  }
}
