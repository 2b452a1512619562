import { SandboxApiError } from '../../client/index.js'
import { LANGUAGES, Language } from '../../sandbox/api.js'

/**
 * Checks a tool's `language` argument. The input schemas take any string so that an unknown
 * language comes back as INVALID_LANGUAGE, as from the REST API, not as a schema violation.
 * @throws SandboxApiError INVALID_LANGUAGE
 */
export function parseLanguage(value: string): Language {
  const parsed = Language.safeParse(value)
  if (parsed.success) return parsed.data
  throw new SandboxApiError(
    'INVALID_LANGUAGE',
    `Unsupported language ${JSON.stringify(value.slice(0, 100))}; use ${LANGUAGES.join(', ')}`,
  )
}
