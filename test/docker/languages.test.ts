/**
 * The three languages on the docker runtime, each context in its own container: the shared suite
 * (test/shared/languages.suite.ts), as on the process runtime.
 */
import { describeLanguages } from '../shared/languages.suite.js'
import { dockerRuntime } from './helpers.js'

describeLanguages(dockerRuntime)
