import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js'
import { registerTools, type ToolDeps } from './tools/index.js'

export type ServerDeps = ToolDeps

// Kept equal to package.json's version by a test. Importing package.json instead would make tsc
// emit a copy into dist/, which the sandbox would then take for the package root.
const SERVER_VERSION = '0.1.0'

/** How the SDK's HTTP transport words the errors of requests it answers with a 4xx. */
const CLIENT_FAULT =
  /^(Bad Request|Not Acceptable|Unsupported Media Type|Method not allowed|Parse error|Invalid Request|Conflict|Session not found)\b/

const INSTRUCTIONS =
  "A code interpreter: run_code runs Python, JavaScript or TypeScript in stateful kernels on this machine. State persists between run_code calls: without context_id they share one default context per language. Use create_context for an isolated context, list_contexts to see them, stop_context to free one. write_file, read_file and list_files move files in and out of a context's working directory (without context_id: the default Python context), e.g. a CSV to analyse in, a result file or chart out."

/**
 * One MCP server with the sandbox tools. Stdio makes one; Streamable HTTP makes one per session,
 * all sharing `deps`, so the default contexts outlive any one session.
 * @returns the server, and cleanup() to close it (idempotent)
 */
export function createServer(deps: ServerDeps): {
  server: McpServer
  cleanup: () => Promise<void>
} {
  const server = new McpServer(
    { name: 'sandbox-code-interpreter', version: SERVER_VERSION },
    { capabilities: { tools: {} }, instructions: INSTRUCTIONS },
  )
  registerTools(server, deps)
  // Malformed messages and transport failures end up here; the connection itself carries on.
  server.server.onerror = function logProtocolError(error) {
    // Requests the HTTP transport refused with a 4xx of its own are the client's to fix, and some
    // are routine: the Python SDK probes each fresh session with a request before initialize.
    if (CLIENT_FAULT.test(error.message)) {
      deps.log.debug({ reason: error.message }, 'MCP request refused')
    } else deps.log.warn({ err: error }, 'MCP protocol error')
  }
  let closing: Promise<void> | undefined
  const cleanup = () => {
    closing ??= server.close()
    return closing
  }
  return { server, cleanup }
}
