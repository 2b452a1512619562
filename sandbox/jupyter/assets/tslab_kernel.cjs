'use strict'
// Starts tslab (the JavaScript and TypeScript kernel) with results structured like Python's.
// - tslab prints a thrown error or a type error to stderr and replies "error" with no ename, evalue
//   or traceback, so a client cannot tell what failed. Here the executor's error log is captured
//   instead and sent as a Jupyter `error` message, and in the execute reply.
// - tslab prints the last expression's value to stdout; here it is an execute_result, as in Python.
// - Output written by a timer or promise that an earlier cell started is dropped, not sent as the
//   running cell's: each cell runs in its own async context, and writes are checked against it.
// - JavaScript is type-checked by tslab (checkJs), so `typeof notDeclared` was a compile error;
//   type errors in JavaScript are ignored, as node would, and only syntax errors stop a cell.
// - `require` and `import` find the curated npm packages of package.json's `kernelPackages` (and
//   their @types), not the service's own dependencies (kernel_packages.cjs).
// - Each start phase is written to stderr with its time (tslab_start.cjs), which the Jupyter
//   Server relays to the service's log; a socket that cannot bind ends the kernel (see below).
// Usage: node tslab_kernel.cjs <connection_file> [--js]
const { AsyncLocalStorage } = require('node:async_hooks')
const path = require('node:path')
const util = require('node:util')
const { bindSockets, startPhases, useBoundSockets } = require('./tslab_start.cjs')

const phase = startPhases(process.argv[2])
const { linkKernelPackages, removePackageLinks } = require('./kernel_packages.cjs')

const tslab = path.dirname(require.resolve('tslab/package.json'))
const zmq = require(require.resolve('zeromq', { paths: [tslab] }))
phase('zeromq')
const boundSockets = bindSockets(zmq, process.argv[2])
const typescript = require.resolve('@tslab/typescript-for-tslab', { paths: [tslab] })
const ts = require(typescript)
phase('typescript')

// TypeScript includes every package of the type roots in a program, so each kernel parsed the
// types of all the kernel packages at start (@types/lodash: 450 KiB) whether a cell imported them
// or not. With `types: ['node']` only Node's are global, and a package's types are read when a
// cell imports it, as module resolution finds them: the first program took about 30% less CPU.
// tslab passes its options to ts.createWatchCompilerHost, a read-only export: tslab gets a copy
// of the module with that one function changed.
require.cache[typescript].exports = Object.defineProperties(
  {},
  {
    ...Object.getOwnPropertyDescriptors(ts),
    createWatchCompilerHost: {
      enumerable: true,
      value: (rootFiles, options, ...rest) =>
        ts.createWatchCompilerHost(rootFiles, { ...options, types: ['node'] }, ...rest),
    },
  },
)
const executor = require(path.join(tslab, 'dist/executor.js'))
const jupyter = require(path.join(tslab, 'dist/jupyter.js'))
const { startKernel } = require(path.join(tslab, 'dist/main.js'))
const { TaskQueue } = require(path.join(tslab, 'dist/util.js'))
phase('tslab')

// After a failed cell tslab cancels every execute that arrives within the next 200 ms (its
// stop-on-error). The sandbox sends one execute at a time per context, so that only ate the
// next request: reset at once.
TaskQueue.prototype.reset = function reset() {
  this.prev = Promise.resolve()
}

const jsKernel = process.argv.includes('--js')
let failures = []
/** The last expression's value of the running cell, if it has one (tslab skips null and undefined). */
let value

const createExecutor = executor.createExecutor
executor.createExecutor = (rootDir, convs, _log) => {
  // tslab has just made its converter: TypeScript's program over the lib and @types files.
  phase('converter')
  if (jsKernel) ignoreTypeErrors(convs.node)
  return createExecutor(rootDir, convs, {
    // The executor logs exactly one thing: the last expression's value.
    log: (result) => {
      value = { result }
    },
    error: (...args) => failures.push(args),
  })
}

// TypeScript diagnostics from 2000 up are the checker's (types, unknown names); below are syntax
// errors, and 8000 up are TypeScript syntax used in JavaScript.
const isTypeError = (diag) => diag.code >= 2000 && diag.code < 8000 && !diag.fileName

/**
 * Converts JavaScript again with `// @ts-ignore` before each line with a type error. A line that
 * starts inside a string or template literal would change its text: such cells keep the errors.
 */
function ignoreTypeErrors(converter) {
  const convert = converter.convert
  converter.convert = (prevDecl, src) => {
    const first = convert(prevDecl, src)
    if (first.diagnostics.length === 0 || !first.diagnostics.every(isTypeError)) return first
    const lines = src.split('\n')
    const bad = new Set(first.diagnostics.map((diag) => diag.start.line))
    if (linesInsideLiterals(src).some((line) => bad.has(line))) return first
    const patched = lines.flatMap((line, i) => (bad.has(i) ? ['// @ts-ignore', line] : [line]))
    const second = convert(prevDecl, patched.join('\n'))
    if (second.diagnostics.length > 0) return convert(prevDecl, src)
    // tslab finds top-level await by its diagnostic, which @ts-ignore hides too. An async wrapper
    // where none was needed changes nothing: the executor awaits it either way.
    second.hasToplevelAwait ||= /\bawait\b/.test(src)
    return second
  }
}

/** Lines (0-based) of `src` that start inside a string or template literal. */
function linesInsideLiterals(src) {
  const file = ts.createSourceFile('cell.js', src, ts.ScriptTarget.Latest, true, ts.ScriptKind.JS)
  const lines = []
  const visit = (node) => {
    if (ts.isStringLiteralLike(node) || ts.isTemplateLiteralToken(node) || ts.isJsxText(node)) {
      const first = file.getLineAndCharacterOfPosition(node.getStart(file)).line
      const last = file.getLineAndCharacterOfPosition(node.end).line
      for (let line = first + 1; line <= last; line++) lines.push(line)
    }
    ts.forEachChild(node, visit)
  }
  visit(file)
  return lines
}

// One async context per cell: a write from a timer or promise an earlier cell started carries
// that cell's id, and is dropped.
const cells = new AsyncLocalStorage()
const createWriteToIopub = jupyter.JupyterHandlerImpl.prototype.createWriteToIopub
jupyter.JupyterHandlerImpl.prototype.createWriteToIopub = function ownWritesOnly(name, stream) {
  const write = createWriteToIopub.call(this, name, stream)
  const cell = cells.getStore()
  return (buffer, encoding) => (cells.getStore() === cell ? write(buffer, encoding) : true)
}

function describeFailure() {
  const thrown = failures.find((args) => args.length === 1 && typeof args[0] !== 'string')
  if (thrown) {
    const value = thrown[0]
    if (value instanceof Error || (value && typeof value === 'object' && 'stack' in value)) {
      const stack = String(value.stack ?? `${value.name}: ${value.message}`)
      return {
        ename: String(value.name ?? 'Error'),
        evalue: String(value.message ?? ''),
        traceback: stack.split('\n'),
      }
    }
    return { ename: 'Error', evalue: `Uncaught ${util.inspect(value)}`, traceback: [] }
  }
  const lines = failures.map((args) => util.format(...args))
  if (lines.length === 0) return { ename: 'Error', evalue: 'Execution failed', traceback: [] }
  // Type errors: tslab logs one "line:column - message" per diagnostic before running anything.
  return { ename: 'CompileError', evalue: lines.join('\n'), traceback: lines }
}

jupyter.ZmqServer.prototype.handleExecute = async function handleExecute(sock, msg) {
  const send = (type, content, socket = this.iopub) => {
    const reply = msg.createReply()
    reply.header.msg_type = type
    reply.content = content
    reply.signAndSend(this.connInfo.key, socket)
  }
  failures = []
  value = undefined
  // As in ipykernel, a silent execute (the sandbox's own setup code) does not count.
  const count = this.handler.execCount
  const content = await cells.run(msg.header.msg_id, () =>
    this.handler.handleExecute(
      msg.content,
      (name, text) => send('stream', { name, text }),
      (data, update) => send(update ? 'update_display_data' : 'display_data', data),
    ),
  )
  if (msg.content.silent) {
    this.handler.execCount = count
    content.execution_count = count
  }
  if (content.status === 'ok' && value && !msg.content.silent) {
    const data = { 'text/plain': util.inspect(value.result, { colors: false }) }
    send('execute_result', { execution_count: content.execution_count, data, metadata: {} })
  }
  if (content.status === 'error') {
    const error = describeFailure()
    send('error', error)
    Object.assign(content, error)
  }
  send('execute_reply', content, sock)
}

// zeromq.js 6 allows one send in flight per socket. Its send() completes at once, but after 512
// operations in a row on a socket it defers one to the next turn of the event loop (so that I/O is
// not starved), and a send made meanwhile throws EBUSY ("Socket is busy writing"). tslab sends
// without waiting, so on IOPub (status busy, execute_result, status idle for each `1+1`) the
// 514th message, the 168th execute's status idle, was lost; the client never saw the execute end.
// A send that finds the socket busy is queued here behind the one in flight, in order.
for (const Socket of [zmq.Publisher, zmq.Router, zmq.Reply]) {
  const send = Socket.prototype.send
  /** Per socket: the last send the native socket accepted, and the end of the queue behind it. */
  const inFlight = new WeakMap()
  const queues = new WeakMap()
  // The native method is read-only: an assignment would not replace it.
  Object.defineProperty(Socket.prototype, 'send', {
    configurable: true,
    writable: true,
    value: function queuedSend(message) {
      if (!queues.has(this)) {
        try {
          const sent = send.call(this, message)
          inFlight.set(this, sent)
          return sent
        } catch (err) {
          if (err?.code !== 'EBUSY') throw err
        }
      }
      const run = () => send.call(this, message)
      const sent = (queues.get(this) ?? inFlight.get(this) ?? Promise.resolve()).then(run, run)
      queues.set(this, sent)
      const settled = () => {
        if (queues.get(this) === sent) queues.delete(this)
      }
      // tslab does not wait on its sends: report a failed one, as its unhandledRejection would.
      sent.then(settled, (err) => {
        settled()
        console.error('zeromq send failed:', err)
      })
      return sent
    },
  })
}

// process.exit() from user code must end the kernel at once: a normal exit first waits for
// zeromq to deliver queued messages, sometimes for good, and the kernel then looks alive but
// answers nothing until the execute times out.
const reallyExit = process.reallyExit
process.exit = (code) => {
  removePackageLinks()
  reallyExit.call(process, code ?? process.exitCode ?? 0)
}

// Exit with the Jupyter Server that started us, even if it was killed with SIGKILL: ipykernel
// watches its parent the same way; tslab does not. The server's pid comes from JPY_PARENT_PID,
// which jupyter_client sets: a server killed while this process boots has already left it with
// ppid 1. (`process.ppid` is also read once at startup; signal 0 to the pid tells.) Under a
// kernel uid the server is another user's process: EPERM says it lives, and should its pid be
// reused meanwhile, the sandbox kills whatever runs as the uid when it frees it.
const parent = Number(process.env.JPY_PARENT_PID) || process.ppid
setInterval(() => {
  try {
    process.kill(parent, 0)
  } catch (error) {
    if (error.code !== 'EPERM') process.exit(1)
  }
}, 1000).unref()

const handleKernelInfo = jupyter.ZmqServer.prototype.handleKernelInfo
jupyter.ZmqServer.prototype.handleKernelInfo = function firstInfoIsReady(sock, msg) {
  handleKernelInfo.call(this, sock, msg)
  jupyter.ZmqServer.prototype.handleKernelInfo = handleKernelInfo
  phase('ready')
}

/** Ends a start that cannot go on: Jupyter restarts a kernel that dies while it starts. */
function startFailed(error) {
  phase('failed', `${error.code ?? error.message} ${error.address ?? ''}`.trim())
  process.exit(1)
}

boundSockets.then((bound) => {
  phase('bound')
  useBoundSockets(jupyter.ZmqServer, zmq, bound)
  linkKernelPackages(tslab)
  phase('links')
  // tslab starts its server without waiting for it, and reports a failure as a mere log line.
  const init = jupyter.ZmqServer.prototype.init
  jupyter.ZmqServer.prototype.init = function initOrExit() {
    return init.call(this).catch(startFailed)
  }
  startKernel({
    configPath: process.argv[2],
    enableFindLocal: false,
    jsKernel,
    globalVersion: require(path.join(tslab, 'package.json')).version,
  })
}, startFailed)
