import { describe, expect, it } from 'vitest'
import { createEvalClient, type FetchLike, SandboxCallError } from '../../eval/client.js'

const result = {
  success: true,
  output: { stdout: '1\n', stderr: '', truncated: false, truncated_chars: 0 },
  results: [],
  execution_count: 1,
  execution_time: 0.01,
  context_restarted: false,
}
const limit = (retryAfter: string) =>
  Response.json(
    { error: { code: 'LIMIT_EXCEEDED', message: 'At most 32 contexts', reason: 'contexts' } },
    { status: 429, headers: { 'retry-after': retryAfter } },
  )

/** A fake sandbox answering from a script, recording when each call came. */
function scripted(answers: (() => Response)[]) {
  const calls: number[] = []
  const fetch: FetchLike = async () => {
    calls.push(performance.now())
    const answer = answers.shift()
    if (!answer) throw new Error('unexpected call')
    return answer()
  }
  return { fetch, calls }
}

describe('eval client', () => {
  it('retries a 429 LIMIT_EXCEEDED after the Retry-After the sandbox sent', async () => {
    const { fetch, calls } = scripted([() => limit('1'), () => Response.json(result)])
    const client = createEvalClient({ fetch, baseUrl: 'http://sandbox' })
    const answer = await client.runOnce(
      { language: 'python', code: 'print(1)' },
      new AbortController().signal,
    )
    expect(answer.output.stdout).toBe('1\n')
    expect(calls).toHaveLength(2)
    expect((calls[1] ?? 0) - (calls[0] ?? 0)).toBeGreaterThanOrEqual(990)
  })

  it('gives up once the waits would pass retryLimitMs, with the sandbox error', async () => {
    const { fetch, calls } = scripted([() => limit('0'), () => limit('0'), () => limit('5')])
    const client = createEvalClient({ fetch, baseUrl: 'http://sandbox', retryLimitMs: 1000 })
    const call = client.runOnce({ language: 'python', code: '1' }, new AbortController().signal)
    await expect(call).rejects.toMatchObject({ name: 'SandboxCallError', code: 'LIMIT_EXCEEDED' })
    expect(calls).toHaveLength(3)
  })

  it('does not retry other errors, and maps an unreachable sandbox to UNAVAILABLE', async () => {
    const notFound = () =>
      Response.json(
        { error: { code: 'CONTEXT_NOT_FOUND', message: 'No context' } },
        { status: 404 },
      )
    const client = createEvalClient({
      fetch: scripted([notFound]).fetch,
      baseUrl: 'http://sandbox',
    })
    await expect(
      client.execute('ctx-1', { code: '1' }, new AbortController().signal),
    ).rejects.toMatchObject({
      code: 'CONTEXT_NOT_FOUND',
    })
    const refused: FetchLike = async () => {
      throw new TypeError('fetch failed', {
        cause: Object.assign(new Error('refused'), { code: 'ECONNREFUSED' }),
      })
    }
    const error = await createEvalClient({ fetch: refused, baseUrl: 'http://127.0.0.1:9' })
      .createContext('python', new AbortController().signal)
      .catch((e: unknown) => e)
    expect(error).toBeInstanceOf(SandboxCallError)
    expect(error).toMatchObject({
      code: 'UNAVAILABLE',
      message: expect.stringContaining('ECONNREFUSED'),
    })
  })

  it('counts deleting a context that is already gone as deleted', async () => {
    const gone = () =>
      Response.json({ error: { code: 'CONTEXT_NOT_FOUND', message: 'gone' } }, { status: 404 })
    const client = createEvalClient({ fetch: scripted([gone]).fetch, baseUrl: 'http://sandbox' })
    await expect(client.deleteContext('ctx-1')).resolves.toBeUndefined()
  })
})
