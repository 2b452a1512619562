import type { Logger } from 'pino'
import { LANGUAGES, type Language } from '../api.js'
import type { JupyterKernel } from './kernel.js'
import type { KernelRuntime } from './runtime.js'

/**
 * Started kernels waiting per language, so creating a context does not wait for a kernel to boot.
 * Refills in the background, `refillConcurrency` kernels at a time. Owns the idle kernels; a kernel
 * handed out belongs to its taker.
 */
export class KernelPool implements AsyncDisposable {
  private readonly idle: Record<Language, JupyterKernel[]> = {
    python: [],
    javascript: [],
    typescript: [],
  }
  /** Kernels being started for the pool, counted towards its target so refills do not overshoot. */
  private readonly starting: Record<Language, number> = { python: 0, javascript: 0, typescript: 0 }
  private readonly refills = new Set<Promise<void>>()
  private readonly controller = new AbortController()
  private failures = 0

  constructor(
    private readonly runtime: KernelRuntime,
    private readonly sizes: Readonly<Record<Language, number>>,
    private readonly log: Logger,
    private readonly refillConcurrency = 1,
  ) {}

  /** Kernels ready per language, for /metrics and tests. */
  depth(language: Language): number {
    return this.idle[language].filter((kernel) => kernel.usable).length
  }

  /** Starts filling the pool in the background, up to `refillConcurrency` kernel starts at once. */
  fill(): void {
    while (
      !this.controller.signal.aborted &&
      this.refills.size < this.refillConcurrency &&
      this.neediest()
    ) {
      // refillLoop counts its first kernel as starting before it awaits, so neediest() sees it.
      const refill: Promise<void> = this.refillLoop().finally(() => this.refills.delete(refill))
      this.refills.add(refill)
    }
  }

  /** Resolves once every language has its target number of ready kernels (or the fill failed). */
  async filled(): Promise<void> {
    this.fill()
    while (this.refills.size > 0) await Promise.all(this.refills)
  }

  /**
   * Takes a ready kernel, or starts one when none waits.
   * @param signal - aborts a cold start
   */
  async acquire(language: Language, signal: AbortSignal): Promise<JupyterKernel> {
    const queue = this.idle[language]
    let kernel = queue.shift()
    while (kernel && !kernel.usable) kernel = queue.shift()
    this.fill()
    return kernel ?? (await this.runtime.startKernel(language, signal))
  }

  /** Shuts down the idle kernels and stops refilling. Idempotent. */
  async close(): Promise<void> {
    if (this.controller.signal.aborted) return
    this.controller.abort()
    await Promise.allSettled(this.refills)
    const kernels = LANGUAGES.flatMap((language) => this.idle[language].splice(0))
    await Promise.allSettled(kernels.map((kernel) => kernel.shutdown()))
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close()
  }

  private async refillLoop(): Promise<void> {
    const signal = this.controller.signal
    for (let language = this.neediest(); language && !signal.aborted; language = this.neediest()) {
      this.starting[language] += 1
      try {
        const kernel = await this.runtime.startKernel(language, signal)
        if (signal.aborted) {
          await kernel.shutdown()
          return
        }
        this.idle[language].push(kernel)
        this.failures = 0
      } catch (error) {
        if (signal.aborted) return
        this.failures += 1
        this.log.warn({ err: error, language, failures: this.failures }, 'warm pool refill failed')
        // Back off so a broken runtime is not hammered; the next acquire or fill() retries.
        if (this.failures >= 3) return
        await new Promise((resolve) => setTimeout(resolve, 500 * this.failures))
      } finally {
        this.starting[language] -= 1
      }
    }
  }

  /** The language below its target with the fewest ready or starting kernels; undefined when full. */
  private neediest(): Language | undefined {
    let best: Language | undefined
    let fewest = Number.POSITIVE_INFINITY
    for (const language of LANGUAGES) {
      this.idle[language] = this.idle[language].filter((kernel) => kernel.usable)
      const have = this.idle[language].length + this.starting[language]
      if (have < this.sizes[language] && have < fewest) {
        best = language
        fewest = have
      }
    }
    return best
  }
}
