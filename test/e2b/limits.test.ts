// Our limits through the E2B front door: the execute timeout and the output cap hold for the SDK.
import { Sandbox } from '@e2b/code-interpreter'
import { afterAll, beforeAll, expect, test } from 'vitest'
import { startE2bSandbox } from '../helpers/e2b.js'

let service: Awaited<ReturnType<typeof startE2bSandbox>>
let sbx: Sandbox

beforeAll(async () => {
  service = await startE2bSandbox({ defaultTimeoutMs: 1_500, maxOutputChars: 10_000 })
  sbx = await Sandbox.create({ debug: true })
})
afterAll(async () => {
  await service?.close()
})

test('SANDBOX_TIMEOUT ends a cell with an EXECUTION_TIMEOUT error; the context keeps its state', async () => {
  await sbx.runCode('kept = 1')
  const execution = await sbx.runCode('import time\ntime.sleep(20)')
  expect(execution.error?.name).toBe('EXECUTION_TIMEOUT')
  expect(execution.error?.value).toMatch(/1\.5 s timeout/)
  expect((await sbx.runCode('kept')).text).toBe('1')
})

test('SANDBOX_MAX_OUTPUT_CHARS caps what the SDK receives', async () => {
  const execution = await sbx.runCode('print("x" * 100_000)')
  const received = execution.logs.stdout.join('').length
  expect(received).toBeGreaterThan(0)
  expect(received).toBeLessThanOrEqual(10_000)
})
