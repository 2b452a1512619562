/** How read_file returns a file: as text, as an image block, or as a base64 resource. */
export type FileKind =
  | { kind: 'text'; mimeType: string; text: string }
  | { kind: 'image' | 'binary'; mimeType: string }

/** Image types that MCP clients show as images, by the signature their data starts with. */
const IMAGE_SIGNATURES: { mimeType: string; matches: (bytes: Uint8Array) => boolean }[] = [
  { mimeType: 'image/png', matches: (b) => startsWith(b, [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a]) },
  { mimeType: 'image/jpeg', matches: (b) => startsWith(b, [0xff, 0xd8, 0xff]) },
  {
    mimeType: 'image/gif',
    matches: (b) => ascii(b, 0, 6) === 'GIF87a' || ascii(b, 0, 6) === 'GIF89a',
  },
  {
    mimeType: 'image/webp',
    matches: (b) => ascii(b, 0, 4) === 'RIFF' && ascii(b, 8, 12) === 'WEBP',
  },
]

const TEXTUAL =
  /^(text\/.*|application\/(json|xml|javascript|ld\+json|manifest\+json)|.*\+(json|xml))$/

/**
 * Decides how a downloaded file is returned. Images are recognised by their signature, not their
 * name: an image block that does not decode can break the client's whole conversation. Text is
 * UTF-8 without NUL bytes, whatever the extension says, since the sandbox types files by extension
 * and knows neither .py nor .md, and takes .ts for video.
 * @param contentType - the sandbox's content-type header
 */
export function classifyFile(bytes: Uint8Array, contentType: string): FileKind {
  const declared = contentType.split(';')[0]?.trim().toLowerCase() || 'application/octet-stream'
  const image = IMAGE_SIGNATURES.find((signature) => signature.matches(bytes))
  if (image) return { kind: 'image', mimeType: image.mimeType }
  const text = bytes.includes(0) ? undefined : decodeUtf8(bytes)
  if (text === undefined) return { kind: 'binary', mimeType: declared }
  return { kind: 'text', mimeType: TEXTUAL.test(declared) ? declared : 'text/plain', text }
}

function decodeUtf8(bytes: Uint8Array): string | undefined {
  try {
    // ignoreBOM keeps a byte-order mark in the text, so that the text is the file, byte for byte.
    return new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(bytes)
  } catch {
    return undefined
  }
}

function startsWith(bytes: Uint8Array, prefix: number[]): boolean {
  return prefix.every((byte, index) => bytes[index] === byte)
}

function ascii(bytes: Uint8Array, start: number, end: number): string {
  return String.fromCharCode(...bytes.subarray(start, end))
}
