/** The three languages on the process runtime: the shared suite (test/shared/languages.suite.ts). */
import { describeLanguages } from '../shared/languages.suite.js'
import { processRuntime } from '../shared/runtime.js'

describeLanguages(processRuntime)
