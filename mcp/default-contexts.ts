import { type ExecuteOptions, SandboxApiError, type SandboxClient } from '../client/index.js'
import type { ExecuteBody, ExecutionResult, Language } from '../sandbox/api.js'

type Entry = { promise: Promise<string>; id?: string }

/**
 * The server's own context per language, for run_code calls without a context_id. Each is created
 * on first use and kept, and shared by every MCP session of this process: some clients open a new
 * session before nearly every call, and state tied to a session would silently vanish.
 */
export class DefaultContexts implements AsyncDisposable {
  private readonly entries = new Map<Language, Entry>()

  constructor(private readonly client: SandboxClient) {}

  /**
   * Runs code in the language's default context.
   * @returns the result and the id of the context it ran in
   */
  execute(
    language: Language,
    body: ExecuteBody,
    options: ExecuteOptions,
  ): Promise<{ contextId: string; result: ExecutionResult }> {
    return this.use(language, (contextId) => this.client.execute(contextId, body, options))
  }

  /**
   * Calls the sandbox on the language's default context. A context that is gone (stopped by a
   * client, reaped when idle) is created again, once, and the call is made there.
   * @param call - one sandbox call on the given context id
   * @returns what `call` returned, and the id of the context it used
   */
  async use<T>(
    language: Language,
    call: (contextId: string) => Promise<T>,
  ): Promise<{ contextId: string; result: T }> {
    const contextId = await this.contextId(language)
    try {
      return { contextId, result: await call(contextId) }
    } catch (error) {
      if (!(error instanceof SandboxApiError && error.code === 'CONTEXT_NOT_FOUND')) throw error
      this.forget(language, contextId)
      const fresh = await this.contextId(language)
      return { contextId: fresh, result: await call(fresh) }
    }
  }

  /** Stops the default contexts this server created. Best effort: the sandbox reaps idle ones. */
  async close(): Promise<void> {
    const ids = [...this.entries.values()].flatMap((entry) => (entry.id ? [entry.id] : []))
    this.entries.clear()
    const signal = AbortSignal.timeout(5000)
    await Promise.allSettled(ids.map((id) => this.client.stopContext(id, { signal })))
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close()
  }

  private contextId(language: Language): Promise<string> {
    const existing = this.entries.get(language)
    if (existing) return existing.promise
    // Not tied to one caller's signal: concurrent first calls share this creation.
    const promise = this.client
      .createContext({
        language,
        name: `default-${language}`,
        description: `Default ${language} context of the MCP server, used by run_code without context_id`,
      })
      .then((context) => context.context_id)
    const entry: Entry = { promise }
    this.entries.set(language, entry)
    promise.then(
      (id) => {
        entry.id = id
      },
      () => this.entries.get(language) === entry && this.entries.delete(language),
    )
    return promise
  }

  /** Drops the remembered id, unless a concurrent call already replaced it. */
  private forget(language: Language, staleId: string): void {
    if (this.entries.get(language)?.id === staleId) this.entries.delete(language)
  }
}
