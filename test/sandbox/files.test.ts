/** The files API on the process runtime: the shared suite (test/shared/files.suite.ts). */
import { describeFiles } from '../shared/files.suite.js'
import { processRuntime } from '../shared/runtime.js'

describeFiles(processRuntime)
