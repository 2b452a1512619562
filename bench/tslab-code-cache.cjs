'use strict'
// The compile-cache experiment of bench/tslab-start.ts: TypeScript's compiler (the 9 MB
// typescript.js that tslab loads) compiled from V8 code cache instead of from source.
// - `node [flags] tslab-code-cache.cjs write <file>` loads TypeScript from source, builds tslab's
//   converter and converts a cell (so that the functions the start runs are compiled), and writes
//   the code cache. Run it with the kernel's own flags: V8 rejects a cache made under other flags
//   (--max-old-space-size included).
// - `node [flags] -r tslab-code-cache.cjs tslab_kernel.cjs …` with SCI_BENCH_TS_CACHE=<file>
//   loads TypeScript with that cache before the kernel requires it.
// Code cache is trusted as code: V8 checks it against the source's length, not its content, so
// only a process that may change the code may write it (here, the benchmark).
const fs = require('node:fs')
const Module = require('node:module')
const os = require('node:os')
const path = require('node:path')
const vm = require('node:vm')

const tslab = path.dirname(require.resolve('tslab/package.json'))
const typescript = require.resolve('@tslab/typescript-for-tslab', { paths: [tslab] })

/** Runs typescript.js as the module tslab's require will find; returns its compiled script. */
function loadTypescript(cachedData) {
  const script = new vm.Script(Module.wrap(fs.readFileSync(typescript, 'utf8')), {
    filename: typescript,
    cachedData,
  })
  const module_ = new Module(typescript, module)
  module_.filename = typescript
  module_.paths = Module._nodeModulePaths(path.dirname(typescript))
  const run = script.runInThisContext()
  const require_ = Module.createRequire(typescript)
  run.call(
    module_.exports,
    module_.exports,
    require_,
    module_,
    typescript,
    path.dirname(typescript),
  )
  module_.loaded = true
  Module._cache[typescript] = module_
  return script
}

if (require.main === module && process.argv[2] === 'write') {
  const script = loadTypescript()
  process.chdir(fs.mkdtempSync(path.join(os.tmpdir(), 'sci-bench-ts-cache-')))
  const converter = require(path.join(tslab, 'dist/converter.js')).createConverter({ isJS: true })
  converter.convert('', 'const x = [1, 2].map((n) => n * 2)\nx')
  fs.writeFileSync(process.argv[3], script.createCachedData())
  process.exit(0)
} else if (process.env.SCI_BENCH_TS_CACHE) {
  const script = loadTypescript(fs.readFileSync(process.env.SCI_BENCH_TS_CACHE))
  if (script.cachedDataRejected) fs.writeSync(2, 'sci-bench-ts-cache rejected\n')
}
