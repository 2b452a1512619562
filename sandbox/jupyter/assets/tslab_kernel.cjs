'use strict'
// Starts tslab (the JavaScript and TypeScript kernel) with failures structured like Python's.
// tslab prints a thrown error or a type error to stderr and replies "error" with no ename, evalue
// or traceback, so a client cannot tell what failed. Here the executor's error log is captured
// instead and sent as a Jupyter `error` message, and in the execute reply.
// Usage: node tslab_kernel.cjs <connection_file> [--js]
const path = require('node:path')
const util = require('node:util')

const tslab = path.dirname(require.resolve('tslab/package.json'))
const executor = require(path.join(tslab, 'dist/executor.js'))
const jupyter = require(path.join(tslab, 'dist/jupyter.js'))
const { startKernel } = require(path.join(tslab, 'dist/main.js'))
const { TaskQueue } = require(path.join(tslab, 'dist/util.js'))

// After a failed cell tslab cancels every execute that arrives within the next 200 ms (its
// stop-on-error). The sandbox sends one execute at a time per context, so that only ate the
// next request: reset at once.
TaskQueue.prototype.reset = function reset() {
  this.prev = Promise.resolve()
}

let failures = []

const createExecutor = executor.createExecutor
executor.createExecutor = (rootDir, convs, log) =>
  createExecutor(rootDir, convs, { log: log.log, error: (...args) => failures.push(args) })

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
  const content = await this.handler.handleExecute(
    msg.content,
    (name, text) => send('stream', { name, text }),
    (data, update) => send(update ? 'update_display_data' : 'display_data', data),
  )
  if (content.status === 'error') {
    const error = describeFailure()
    send('error', error)
    Object.assign(content, error)
  }
  send('execute_reply', content, sock)
}

// process.exit() from user code must end the kernel at once: a normal exit first waits for
// zeromq to deliver queued messages, sometimes for good, and the kernel then looks alive but
// answers nothing until the execute times out.
const reallyExit = process.reallyExit
process.exit = (code) => reallyExit.call(process, code ?? process.exitCode ?? 0)

// Exit with the Jupyter Server that started us, even if it was killed with SIGKILL: ipykernel
// watches its parent the same way; tslab does not. The server's pid comes from JPY_PARENT_PID,
// which jupyter_client sets: a server killed while this process boots has already left it with
// ppid 1. (`process.ppid` is also read once at startup; signal 0 to the pid tells.)
const parent = Number(process.env.JPY_PARENT_PID) || process.ppid
setInterval(() => {
  try {
    process.kill(parent, 0)
  } catch {
    process.exit(1)
  }
}, 1000).unref()

startKernel({
  configPath: process.argv[2],
  enableFindLocal: false,
  jsKernel: process.argv.includes('--js'),
  globalVersion: require(path.join(tslab, 'package.json')).version,
})
