'use strict'
// The npm packages a JavaScript or TypeScript kernel can `require` and `import`: the curated set of
// package.json's `kernelPackages`, linked into a private node_modules that the kernel starts in.
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')

/** The directory where a package is installed, as `require` from this file finds it, or null. */
function packageDir(name, from = __dirname) {
  const dirs = require.resolve.paths(name) ?? []
  if (from !== __dirname) dirs.unshift(path.join(from, 'node_modules'))
  const found = dirs.find((dir) => fs.existsSync(path.join(dir, name, 'package.json')))
  return found ? path.join(found, name) : null
}

const LINKS_PREFIX = 'sci-tslab-'
let linksDir = null

function removePackageLinks() {
  if (linksDir) fs.rmSync(linksDir, { recursive: true, force: true })
  linksDir = null
}

/** Removes the links of kernels that were killed before they could, named by pid. */
function removeStaleLinks() {
  for (const name of fs.readdirSync(os.tmpdir())) {
    const pid = Number(
      name.startsWith(LINKS_PREFIX) && name.slice(LINKS_PREFIX.length).split('-')[0],
    )
    if (!pid) continue
    try {
      process.kill(pid, 0)
    } catch (err) {
      // ESRCH: gone (EPERM: alive, another user's). Another user's links are theirs to remove.
      if (err.code !== 'ESRCH') continue
      try {
        fs.rmSync(path.join(os.tmpdir(), name), { recursive: true, force: true })
      } catch {}
    }
  }
}

/**
 * Makes a private directory whose node_modules holds links to the kernel packages only (each
 * with its @types when installed, and tslab's @types/node), and moves into it: tslab resolves
 * `require` and type-checks `import` from the directory it starts in, and walking up from the
 * package's own tree would reach every dependency of the service (hono, dockerode, ...). A
 * package's own dependencies resolve from where it really is. The context's setup code then moves
 * the kernel into its working dir, where files are read and written.
 * @param tslab - tslab's package dir, whose @types/node the kernel type-checks against
 */
function linkKernelPackages(tslab) {
  const root = path.resolve(__dirname, '../../..')
  const names = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8')).kernelPackages
  removeStaleLinks()
  linksDir = fs.mkdtempSync(path.join(os.tmpdir(), `${LINKS_PREFIX}${process.pid}-`))
  const modules = path.join(linksDir, 'node_modules')
  fs.mkdirSync(path.join(modules, '@types'), { recursive: true })
  const link = (name, dir) => dir && fs.symlinkSync(dir, path.join(modules, name), 'dir')
  for (const name of names ?? []) {
    link(name, packageDir(name))
    const types = `@types/${name.replace(/^@([^/]+)\//, '$1__')}`
    link(types, packageDir(types))
  }
  link('@types/node', packageDir('@types/node', tslab))
  // No SIGTERM handler: one would wait for the event loop, so a kernel in a busy loop or out of
  // heap would outlive Jupyter's SIGTERM; the links of a killed kernel go with the next kernel.
  process.on('exit', removePackageLinks)
  process.chdir(linksDir)
}

module.exports = { linkKernelPackages, removePackageLinks }
