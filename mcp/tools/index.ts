import type { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js'
import type { Logger } from 'pino'
import type { SandboxClient } from '../../client/index.js'
import type { DefaultContexts } from '../default-contexts.js'
import { registerCreateContextTool } from './create-context.js'
import { registerListContextsTool } from './list-contexts.js'
import { registerListFilesTool } from './list-files.js'
import { registerReadFileTool } from './read-file.js'
import { registerRunCodeTool } from './run-code.js'
import { registerStopContextTool } from './stop-context.js'
import { registerWriteFileTool } from './write-file.js'

/** What every tool needs: the sandbox, the server's default contexts and a logger. */
export type ToolDeps = {
  sandbox: SandboxClient
  defaults: DefaultContexts
  log: Logger
}

/**
 * Registers the server's tools. Names are snake_case verbs, as clients of earlier versions call them.
 * @param server - a fresh McpServer, one per MCP session
 */
export function registerTools(server: McpServer, deps: ToolDeps): void {
  registerRunCodeTool(server, deps)
  registerCreateContextTool(server, deps)
  registerStopContextTool(server, deps)
  registerListContextsTool(server, deps)
  registerWriteFileTool(server, deps)
  registerReadFileTool(server, deps)
  registerListFilesTool(server, deps)
}
