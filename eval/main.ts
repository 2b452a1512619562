#!/usr/bin/env node
import { Command, InvalidArgumentError, Option } from 'commander'
import { evaluate } from './evaluate.js'

const positive = (integer: boolean) => (value: string) => {
  const n = Number(value)
  if (!(n > 0) || (integer && !Number.isInteger(n))) {
    throw new InvalidArgumentError(`expected a positive ${integer ? 'integer' : 'number'}`)
  }
  return n
}

const program = new Command('sandbox-eval')
  .description(
    'Run JSONL code cases ({id, language, code, expected_stdout?, setup?, test?}) in fresh sandbox contexts and write one JSONL result per case.',
  )
  .argument('<cases>', 'JSONL file of cases, or - for stdin')
  .addOption(new Option('--url <url>', 'sandbox service to run against').env('SANDBOX_BASE_URL'))
  .option('--embedded', 'run the sandbox inside this process (the default without --url)')
  .option('-c, --concurrency <n>', 'cases run at once', positive(true), 4)
  .option(
    '-t, --timeout <seconds>',
    "seconds a case may run, setup and test included (default: the sandbox's)",
    positive(false),
  )
  .option('-o, --output <file>', 'results JSONL, a line per case as it finishes (default: stdout)')
  .option('--no-fail', 'exit 0 even when some case did not pass')
  .addHelpText(
    'after',
    '\nThe API key is read from SANDBOX_API_KEY. Exit status: 0 all passed, 1 some did not, 2 usage or sandbox error, 130 interrupted.',
  )
  // Exit 2 on usage errors, so CI can tell them from cases that did not pass.
  .exitOverride((error) => process.exit(error.exitCode === 1 ? 2 : error.exitCode))
  .action(async (cases: string, opts) => {
    const embedded = opts.embedded === true
    if (embedded && program.getOptionValueSource('url') === 'cli') {
      program.error('--url and --embedded exclude each other')
    }
    const code = await evaluate({
      cases,
      url: embedded ? undefined : opts.url,
      apiKey: process.env.SANDBOX_API_KEY,
      concurrency: opts.concurrency,
      timeoutS: opts.timeout,
      output: opts.output,
      failOnNotPass: opts.fail,
      env: process.env,
    })
    // Leftover handles (sockets, timers) of the sandbox must not keep a finished run alive.
    process.exit(code)
  })

try {
  await program.parseAsync()
} catch (error) {
  process.stderr.write(`sandbox-eval: ${error instanceof Error ? error.message : error}\n`)
  process.exit(2)
}
