/** Rich output and the kernel packages on the process runtime: test/shared/rendering.suite.ts. */
import { describeRendering } from '../shared/rendering.suite.js'
import { processRuntime } from '../shared/runtime.js'

describeRendering(processRuntime)
