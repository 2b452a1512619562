// envd's Connect Process service: Start runs a command where the code runs, as a subprocess of
// the default Python context's kernel (in the docker runtime: inside its container), in the
// context's working dir. Output comes back once the command exits.
import type { ServiceImpl } from '@connectrpc/connect'
import { Code, ConnectError } from '@connectrpc/connect'
import type { MimeBundle } from '../api.js'
import { toWorkspacePath } from './envd-paths.js'
import { type EnvdDeps, envdWorkspace } from './files.js'
import type { Process, StartResponse } from './gen/process/process_pb.js'
import { asConnect } from './rpc-errors.js'

/** The MIME type the command runner displays its outcome under. */
const OUTCOME_MIME = 'application/vnd.sci.e2b-process+json'

type Outcome = { exit_code: number; stdout: string; stderr: string }

/**
 * Python that runs `argv` with subprocess (no stdin) and displays the exit code and base64 output
 * under OUTCOME_MIME. One expression: it leaves no names behind in the user's namespace.
 */
export function commandCode(command: {
  argv: string[]
  cwd?: string
  env: Record<string, string>
}) {
  // A JSON string literal is also a valid Python string literal.
  const params = JSON.stringify(JSON.stringify(command))
  return `(lambda p, sp, b64, os: __import__('IPython').display.display({${JSON.stringify(OUTCOME_MIME)}: (lambda r: {'exit_code': r.returncode, 'stdout': b64(r.stdout).decode(), 'stderr': b64(r.stderr).decode()})(sp.run(p['argv'], cwd=p.get('cwd'), env=dict(os.environ, **p['env']), stdin=sp.DEVNULL, capture_output=True))}, raw=True))(__import__('json').loads(${params}), __import__('subprocess'), __import__('base64').b64encode, __import__('os'))`
}

/**
 * The Process service: Start only (commands.run, with or without background). List, Connect,
 * SendInput, SendSignal and the rest answer Unimplemented.
 */
export function processService(deps: EnvdDeps): Partial<ServiceImpl<typeof Process>> {
  return {
    async *start(request, context) {
      const config = request.process
      if (!config) throw new ConnectError('process is required', Code.InvalidArgument)
      const outcome = await asConnect(async () => {
        const workspace = await envdWorkspace(deps)
        const cwd = config.cwd ? toWorkspacePath(config.cwd, workspace.dir) : undefined
        const code = commandCode({
          argv: [config.cmd, ...config.args],
          cwd: cwd || undefined,
          env: config.envs,
        })
        return runCommand(deps, code, context.signal, context.timeoutMs())
      })
      yield event({ case: 'start', value: { pid: 0 } })
      const stdout = Buffer.from(outcome.stdout, 'base64')
      const stderr = Buffer.from(outcome.stderr, 'base64')
      if (stdout.length > 0)
        yield event({ case: 'data', value: { output: { case: 'stdout', value: stdout } } })
      if (stderr.length > 0)
        yield event({ case: 'data', value: { output: { case: 'stderr', value: stderr } } })
      const exitCode = outcome.exit_code
      const status = exitCode < 0 ? `signal: ${-exitCode}` : `exit status ${exitCode}`
      yield event({ case: 'end', value: { exitCode, exited: exitCode >= 0, status } })
    },
  }
}

type ProcessEventInit = NonNullable<NonNullable<StartResponse['event']>['event']>

function event(value: unknown) {
  return { event: { event: value as ProcessEventInit } }
}

async function runCommand(
  deps: EnvdDeps,
  code: string,
  signal: AbortSignal,
  timeoutMs: number | undefined,
): Promise<Outcome> {
  const { contexts, defaults, config } = deps
  const maxS = config.maxTimeoutMs / 1000
  const timeout = timeoutMs === undefined ? undefined : Math.min(timeoutMs / 1000, maxS)
  let outcome: Outcome | undefined
  const onEvent = (e: { type: string; data?: MimeBundle }) => {
    if (e.type === 'result' && e.data?.[OUTCOME_MIME]) outcome = e.data[OUTCOME_MIME] as Outcome
  }
  const id = await defaults.id('python')
  const result = await contexts.execute(id, { code, timeout }, { signal, onEvent })
  if (outcome) return outcome
  const reason = result.error
    ? `${result.error.name}: ${result.error.value}`
    : 'the command produced more output than SANDBOX_MAX_OUTPUT_CHARS'
  throw new ConnectError(`The command did not run to completion: ${reason}`, Code.Aborted)
}
