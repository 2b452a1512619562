import { readFile } from 'node:fs/promises'
import path from 'node:path'
import { ASSETS_DIR, kernelSpecs, PACKAGE_ROOT } from '../../jupyter/kernelspecs.js'

/** Paths in the sandbox image (Dockerfile.sandbox): the app with its kernel launchers, and node. */
const IMAGE_ASSETS_DIR = '/app/sandbox/jupyter/assets'
const IMAGE_NODE = '/usr/local/bin/node'
const IMAGE_PYTHON = '/usr/bin/python3'

/**
 * The service's kernelspecs with the image's paths: the launchers shipped in the image, its node
 * and Debian's python. No per-kernel memory cap: the container's memory limit is the cap.
 */
export function imageKernelSpecs(maxOutputChars: number): Record<string, unknown> {
  const relocate = (arg: string) =>
    arg === process.execPath
      ? IMAGE_NODE
      : arg.startsWith(`${ASSETS_DIR}/`)
        ? IMAGE_ASSETS_DIR + arg.slice(ASSETS_DIR.length)
        : arg
  const specs = kernelSpecs(IMAGE_PYTHON, 0, maxOutputChars)
  return Object.fromEntries(
    Object.entries(specs).map(([name, spec]) => [name, { ...spec, argv: spec.argv.map(relocate) }]),
  )
}

/** The container's `python3 -c` program: the shared Jupyter settings, then the entry itself. */
export async function containerEntry(): Promise<string> {
  const [tuning, entry] = await Promise.all([
    readFile(path.join(ASSETS_DIR, 'jupyter_tuning.py'), 'utf8'),
    readFile(path.join(PACKAGE_ROOT, 'sandbox/runtimes/docker/assets/container_entry.py'), 'utf8'),
  ])
  return `${tuning}\n${entry}`
}

/** The `docker exec` relay's `python3 -c` program (see relay.ts). */
export function relaySource(): Promise<string> {
  return readFile(path.join(PACKAGE_ROOT, 'sandbox/runtimes/docker/assets/relay.py'), 'utf8')
}
