/**
 * The full profile's libraries on the process runtime (the host's Debian packages, installed by
 * scripts/setup.sh from scripts/debian-packages.txt): the shared suite
 * (test/shared/libraries.suite.ts).
 */
import { describeLibraries } from '../shared/libraries.suite.js'
import { processRuntime } from '../shared/runtime.js'

describeLibraries(processRuntime)
