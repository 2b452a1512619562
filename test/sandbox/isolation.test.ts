/**
 * What the "process" runtime isolates between contexts, and what it does not: the shared suite
 * (test/shared/isolation.suite.ts). Kernels share one uid, one Jupyter runtime dir and one PID
 * namespace, so the cases below are known limits: they run the real attack, expect it to be
 * blocked, and are reported as expected failures.
 */
import { describeIsolation } from '../shared/isolation.suite.js'
import { processRuntime } from '../shared/runtime.js'

describeIsolation(processRuntime, {
  knownLimits: {
    why: 'one user, trusted agents; use per-context containers otherwise',
    cases: ['F2', 'F3', 'F4', 'F12'],
  },
})
