/**
 * Rich output and the kernel packages on the docker runtime, each context in its own container:
 * the shared suite (test/shared/rendering.suite.ts), as on the process runtime. The image needs
 * the libraries (SANDBOX_DOCKER_IMAGE, built with EXTRA_PACKAGES; see the suite).
 */
import { describeRendering } from '../shared/rendering.suite.js'
import { dockerRuntime } from './helpers.js'

describeRendering(dockerRuntime)
