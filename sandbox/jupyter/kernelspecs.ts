import { existsSync } from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import type { Language } from '../api.js'

/** The package root: the nearest directory above this file that holds package.json. */
function packageRoot(): string {
  let dir = path.dirname(fileURLToPath(import.meta.url))
  while (!existsSync(path.join(dir, 'package.json'))) {
    const parent = path.dirname(dir)
    if (parent === dir) throw new Error('package.json not found above the sandbox sources')
    dir = parent
  }
  return dir
}

/** The package root, where src and dist both find the non-TypeScript files (tsc does not copy them). */
export const PACKAGE_ROOT = packageRoot()

/** Kernel launchers and Jupyter settings shipped with the service. */
export const ASSETS_DIR = path.join(PACKAGE_ROOT, 'sandbox/jupyter/assets')

/** Kernelspec name for each language, as written by kernelSpecs(). */
export const KERNEL_SPEC: Record<Language, string> = {
  python: 'sci-python',
  javascript: 'sci-javascript',
  typescript: 'sci-typescript',
}

type KernelSpecFile = {
  argv: string[]
  display_name: string
  language: string
  interrupt_mode: 'signal'
  env?: Record<string, string>
  metadata?: { kernel_provisioner: { provisioner_name: string } }
}

/** The provisioner (sci_kernel_provisioner.py) that forks Python kernels from a warm template. */
export const TEMPLATE_PROVISIONER = 'sci-template-provisioner'

/**
 * Kernelspecs the service's Jupyter Server uses, written into its private data dir at startup:
 * nothing is installed into a user's or the system's Jupyter paths.
 * @param python - interpreter with ipykernel (Debian's /usr/bin/python3 by default)
 * @param memoryMb - per-kernel memory cap: address space for Python, V8 heap for Node; 0 = none
 * @param maxOutputChars - output a Python kernel sends per execution before it drops the rest
 * @param provisioner - start kernels through sci_kernel_provisioner.py, which forks Python ones
 *   from the kernel template when it runs and switches every kernel to its kernel uid; only a
 *   server launched by JupyterServer finds it
 * @default provisioner false
 */
export function kernelSpecs(
  python: string,
  memoryMb: number,
  maxOutputChars: number,
  provisioner = false,
): Record<string, KernelSpecFile> {
  const tslab = path.join(ASSETS_DIR, 'tslab_kernel.cjs')
  const node = [process.execPath, ...(memoryMb > 0 ? [`--max-old-space-size=${memoryMb}`] : [])]
  const metadata = provisioner && {
    metadata: { kernel_provisioner: { provisioner_name: TEMPLATE_PROVISIONER } },
  }
  return {
    [KERNEL_SPEC.python]: {
      argv: [python, path.join(ASSETS_DIR, 'python_kernel.py'), '-f', '{connection_file}'],
      env: {
        SCI_KERNEL_MEMORY_BYTES: String(memoryMb * 1024 * 1024),
        SCI_KERNEL_MAX_OUTPUT_CHARS: String(maxOutputChars),
      },
      display_name: 'Python 3 (sandbox)',
      language: 'python',
      interrupt_mode: 'signal',
      // With the template off too: the provisioner then starts kernels the old way, and still
      // counts the starts of each path.
      ...metadata,
    },
    [KERNEL_SPEC.javascript]: {
      argv: [...node, tslab, '{connection_file}', '--js'],
      display_name: 'JavaScript (tslab)',
      language: 'javascript',
      interrupt_mode: 'signal',
      ...metadata,
    },
    [KERNEL_SPEC.typescript]: {
      argv: [...node, tslab, '{connection_file}'],
      display_name: 'TypeScript (tslab)',
      language: 'typescript',
      interrupt_mode: 'signal',
      ...metadata,
    },
  }
}

/**
 * The code that moves a fresh (or restarted) kernel into its context's working dir and env, run
 * silently before any user code.
 * @param dir - the working dir as the kernel sees it
 */
export function contextSetupCode(
  language: Language,
  dir: string,
  env: Readonly<Record<string, string>>,
): string {
  const quotedDir = JSON.stringify(dir)
  const vars = JSON.stringify(env)
  return language === 'python'
    ? `import os as _sci_os, json as _sci_json\n_sci_os.chdir(${quotedDir})\n_sci_os.environ.update(_sci_json.loads(${JSON.stringify(vars)}))\ndel _sci_os, _sci_json`
    : `process.chdir(${quotedDir}); Object.assign(process.env, ${vars});`
}
