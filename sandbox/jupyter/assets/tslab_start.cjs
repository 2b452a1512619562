'use strict'
// How a tslab kernel starts: its sockets bound first (bindSockets), and its start phases, one
// stderr line each, which the Jupyter Server relays to the service's log (sandbox/jupyter/server.ts
// logs them at debug, a kernel still not ready at warn):
//   sci-tslab-start kernel=<id> phase=<name> ms=<since the process started> cpu=<ms> at=<ISO time>
// A start that hangs then says where it stopped. Phases, in order: node (the runtime booted and
// runs this script), zeromq, typescript, tslab (modules loaded), bound (sockets listening),
// links (kernel packages linked), converter (TypeScript's first program built), ready (first
// kernel_info reply sent); failed ends a start.
const fs = require('node:fs')
const path = require('node:path')

/** While a kernel is not ready, how often it says which phase it last passed. */
const WAITING_INTERVAL_MS = 10_000

/**
 * @param connectionFile - the kernel's connection file, kernel-<id>.json, which names the kernel
 * @returns phase(name, detail?): writes the line of a phase just passed
 */
function startPhases(connectionFile) {
  const kernel = /kernel-(.+)\.json$/.exec(path.basename(connectionFile ?? ''))?.[1] ?? '?'
  let last = 'node'
  const write = (name, detail) => {
    const cpu = process.cpuUsage()
    const fields = [
      `kernel=${kernel}`,
      `phase=${name}`,
      `ms=${Math.round(performance.now())}`,
      `cpu=${Math.round((cpu.user + cpu.system) / 1000)}`,
      `at=${new Date().toISOString()}`,
      ...(detail ? [`detail=${detail.replace(/\s+/g, '_')}`] : []),
    ]
    // Synchronous: the line is out even if the process stops right after.
    try {
      fs.writeSync(2, `sci-tslab-start ${fields.join(' ')}\n`)
    } catch {}
  }
  const waiting = setInterval(() => write('waiting', `last=${last}`), WAITING_INTERVAL_MS).unref()
  write(last)
  return function phase(name, detail) {
    last = name
    write(name, detail)
    if (name === 'ready' || name === 'failed') clearInterval(waiting)
  }
}

/**
 * Binds the kernel's five sockets, before anything slow is loaded: Jupyter picks free ports,
 * releases them and starts the kernel, and any process can take one until the kernel binds it.
 * tslab binds after TypeScript has built its first program (seconds, and more under load); past
 * 10 s Jupyter takes a kernel's death as not related to its start, and restarts it on the same
 * ports, taken, five times before it gives up. Bound first, the window is a few milliseconds, and
 * a failure is known at once.
 * @param zmq - the zeromq module tslab uses
 * @returns the sockets tslab makes in ZmqServer.init, bound to the connection file's ports
 */
async function bindSockets(zmq, connectionFile) {
  const info = JSON.parse(fs.readFileSync(connectionFile, 'utf8'))
  const sockets = {
    iopub: new zmq.Publisher(),
    shell: new zmq.Router(),
    control: new zmq.Router(),
    stdin: new zmq.Router(),
    hb: new zmq.Reply(),
  }
  await Promise.all(
    Object.entries(sockets).map(([name, socket]) =>
      socket.bind(`${info.transport}://${info.ip}:${info[`${name}_port`]}`),
    ),
  )
  return sockets
}

/**
 * Makes tslab's ZmqServer.init take the sockets bindSockets bound instead of making its own.
 * @param ZmqServer - tslab's server class (dist/jupyter.js)
 * @param zmq - the zeromq module, whose socket classes init instantiates
 */
function useBoundSockets(ZmqServer, zmq, bound) {
  const { Publisher, Router, Reply } = zmq
  const routers = [bound.shell, bound.control, bound.stdin]
  ZmqServer.prototype.bindSocket = async () => {}
  const init = ZmqServer.prototype.init
  ZmqServer.prototype.init = async function initWithBoundSockets() {
    // init makes its sockets in this order: iopub, shell, control, stdin, hb.
    zmq.Publisher = function boundIopub() {
      return bound.iopub
    }
    zmq.Router = function boundRouter() {
      return routers.shift()
    }
    zmq.Reply = function boundHeartbeat() {
      return bound.hb
    }
    try {
      await init.call(this)
    } finally {
      Object.assign(zmq, { Publisher, Router, Reply })
    }
    if (this.shell !== bound.shell || this.stdin !== bound.stdin || this.hb !== bound.hb) {
      throw new Error('tslab made its sockets in another order: see useBoundSockets')
    }
  }
}

module.exports = { startPhases, bindSockets, useBoundSockets }
