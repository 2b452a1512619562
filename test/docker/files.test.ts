/**
 * The files API on the docker runtime: the shared suite (test/shared/files.suite.ts). The
 * context's files live in its container (/workspace, a tmpfs) and are read and written there by
 * the container's own Jupyter Server, streamed, without following links: the service never opens
 * a path of a context on the host.
 */
import { describeFiles } from '../shared/files.suite.js'
import { dockerRuntime } from './helpers.js'

describeFiles(dockerRuntime)
