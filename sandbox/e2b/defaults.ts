// The E2B front door's default contexts: one per language, made on first use, as E2B's server
// keeps them. Everything goes through ContextService; nothing here knows kernels or runtimes.
import type { Language } from '../api.js'
import type { ContextService } from '../contexts.js'
import { SandboxError } from '../errors.js'

/**
 * A language as E2B's server accepts it: trimmed, lower case, `js`/`ts` for short, Python when
 * none is given.
 * @throws SandboxError INVALID_LANGUAGE for a language we have no kernel for (E2B's r, java, bash)
 */
export function normalizeLanguage(language: string | undefined | null): Language {
  const name = (language ?? '').trim().toLowerCase()
  if (name === '' || name === 'python') return 'python'
  if (name === 'js' || name === 'javascript') return 'javascript'
  if (name === 'ts' || name === 'typescript') return 'typescript'
  throw new SandboxError(
    'INVALID_LANGUAGE',
    `Unsupported language ${JSON.stringify(name.slice(0, 50))}; use python, javascript or typescript`,
  )
}

/**
 * The default context of each language: what `runCode` without a context runs in, and (Python)
 * where envd's files and commands live. A default context that was removed, or reaped when idle,
 * is made again on next use, with fresh state, as a restarted E2B sandbox would be.
 */
export class DefaultContexts {
  private readonly ids = new Map<Language, Promise<string>>()

  constructor(private readonly contexts: ContextService) {}

  /** The id of the language's default context, creating it when there is none. */
  async id(language: Language): Promise<string> {
    const current = this.ids.get(language)
    if (current) {
      const id = await current.catch(() => undefined)
      if (id !== undefined && this.exists(id)) return id
      if (this.ids.get(language) !== current) return this.id(language)
    }
    const created = this.contexts
      .create({ type: 'jupyter', language, name: `e2b-default-${language}` })
      .then((context) => context.context_id)
    this.ids.set(language, created)
    created.catch(() => {
      if (this.ids.get(language) === created) this.ids.delete(language)
    })
    return created
  }

  private exists(id: string): boolean {
    try {
      this.contexts.get(id)
      return true
    } catch {
      return false
    }
  }
}
