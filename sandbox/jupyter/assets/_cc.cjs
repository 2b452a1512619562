const t0 = performance.now()
const fs = require('node:fs'), path = require('node:path'), vm = require('node:vm'), Module = require('node:module')
const tslab = path.dirname(require.resolve('tslab/package.json'))
const tsFile = require.resolve('@tslab/typescript-for-tslab', { paths: [tslab] })
const cacheFile = '/tmp/tscwd/ts.cache'
const mode = process.argv[2] // write | read | none
let s = performance.now()
let script
if (mode !== 'none') {
  const src = fs.readFileSync(tsFile, 'utf8')
  const cachedData = mode === 'read' ? fs.readFileSync(cacheFile) : undefined
  script = new vm.Script(Module.wrap(src), { filename: tsFile, cachedData, importModuleDynamically: undefined })
  if (mode === 'read' && script.cachedDataRejected) console.log('REJECTED')
  const m = new Module(tsFile, module); m.filename = tsFile; m.paths = Module._nodeModulePaths(path.dirname(tsFile))
  script.runInThisContext()(m.exports, (id) => m.require(id), m, tsFile, path.dirname(tsFile))
  m.loaded = true; Module._cache[tsFile] = m
} else require(tsFile)
const tts = performance.now() - s
const conv = require(path.join(tslab, 'dist/converter.js'))
require(path.join(tslab, 'dist/executor.js')); require(path.join(tslab, 'dist/jupyter.js'))
s = performance.now(); const c = conv.createConverter({ isJS: true, isBrowser: false }); const tconv = performance.now() - s
s = performance.now(); c.convert('', 'let x = 1; x + 1'); const t1 = performance.now() - s
if (mode === 'write') fs.writeFileSync(cacheFile, script.createCachedData())
const u = process.cpuUsage()
console.log(mode, 'boot', t0.toFixed(0), 'ts', tts.toFixed(0), 'conv', tconv.toFixed(0), '1st', t1.toFixed(0), 'cpu', ((u.user + u.system) / 1000).toFixed(0))
process.exit(0)
