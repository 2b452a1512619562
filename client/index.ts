/**
 * The sandbox REST client. The embedded sandbox is imported from './embedded.js' on its own: it
 * loads the whole service (Jupyter client, runtimes), which a remote client must not pay for.
 */
export { SandboxApiError } from './errors.js'
export {
  type CallOptions,
  createSandboxClient,
  type ExecuteOptions,
  type FetchLike,
  type FileContent,
  type ReadFileOptions,
  type SandboxClient,
  type SandboxClientOptions,
} from './sandbox-client.js'
