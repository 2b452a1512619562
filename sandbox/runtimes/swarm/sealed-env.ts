import { createCipheriv, createDecipheriv, createHmac, randomBytes } from 'node:crypto'

/**
 * A context's env, sealed into a label of its service so that an instance that adopts the
 * context applies it again when the kernel restarts. Env often holds API keys, and labels are
 * read by anything with the manager's API and exported by monitoring tools: the label carries
 * AES-256-GCM ciphertext under a key derived from SANDBOX_SWARM_TOKEN_KEY (the key adoption
 * needs anyway), bound to the service's name, so a label copied onto another service is refused.
 */
const IV_BYTES = 12
const TAG_BYTES = 16

function keyOf(tokenKey: string): Buffer {
  return createHmac('sha256', tokenKey).update('sci.env').digest()
}

/** `iv.tag.ciphertext`, base64url. */
export function sealEnv(
  tokenKey: string,
  serviceName: string,
  env: Record<string, string>,
): string {
  const iv = randomBytes(IV_BYTES)
  const cipher = createCipheriv('aes-256-gcm', keyOf(tokenKey), iv)
  cipher.setAAD(Buffer.from(serviceName))
  const sealed = Buffer.concat([cipher.update(JSON.stringify(env)), cipher.final()])
  return [iv, cipher.getAuthTag(), sealed].map((part) => part.toString('base64url')).join('.')
}

/** The env sealed by sealEnv with the same key and service name, or undefined. */
export function openEnv(
  tokenKey: string,
  serviceName: string,
  label: string,
): Record<string, string> | undefined {
  const [iv, tag, sealed] = label.split('.').map((part) => Buffer.from(part, 'base64url'))
  if (!iv || !tag || !sealed || iv.length !== IV_BYTES || tag.length !== TAG_BYTES) return undefined
  try {
    const decipher = createDecipheriv('aes-256-gcm', keyOf(tokenKey), iv)
    decipher.setAAD(Buffer.from(serviceName))
    decipher.setAuthTag(tag)
    const env: unknown = JSON.parse(
      Buffer.concat([decipher.update(sealed), decipher.final()]).toString(),
    )
    const valid =
      typeof env === 'object' &&
      env !== null &&
      Object.values(env).every((value) => typeof value === 'string')
    return valid ? (env as Record<string, string>) : undefined
  } catch {
    return undefined
  }
}
