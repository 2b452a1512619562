/**
 * A long JavaScript or TypeScript session: zeromq.js defers every 513th send on a socket to the
 * next turn of the event loop, and tslab's next send then threw EBUSY. IOPub lost a status idle,
 * so the 168th `1+1` (three IOPub messages each) never ended: EXECUTION_TIMEOUT, then a restart.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type RunningSandbox, startSandbox } from '../helpers/sandbox.js'

/** Each execute sends four IOPub messages (busy, stream, result, idle): 1600 in all. */
const EXECUTES = 400

let s: RunningSandbox

beforeAll(async () => {
  s = await startSandbox()
})
afterAll(() => s?.close())

describe('long JavaScript and TypeScript sessions', () => {
  it.each(['javascript', 'typescript'] as const)(
    '%s: every one of 400 executes in one context answers',
    async (language) => {
      const { context_id: id } = await s.client.createContext({ language })
      for (let i = 1; i <= EXECUTES; i++) {
        const result = await s.client.execute(id, {
          code: `console.log(${i})\n${i} + 1`,
          timeout: 10,
        })
        expect(
          [result.success, result.output.stdout, result.results[0]?.['text/plain']],
          `execute ${i}: ${JSON.stringify(result)}`,
        ).toEqual([true, `${i}\n`, String(i + 1)])
      }
    },
    600_000,
  )
})
