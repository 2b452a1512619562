import { describe, expect, it } from 'vitest'
import { parseCases } from '../../eval/cases.js'
import { normalizeStdout } from '../../eval/judge.js'

describe('parseCases', () => {
  it('reads cases, defaults the language, and turns numeric ids into strings', () => {
    const parsed = parseCases(
      '{"id": 7, "code": "1", "extra": true}\n\n{"id": "b", "language": "javascript", "code": "2"}\n',
    )
    expect(parsed).toEqual([
      { ok: true, value: { id: '7', language: 'python', code: '1' } },
      { ok: true, value: { id: 'b', language: 'javascript', code: '2' } },
    ])
  })

  it('reports bad lines with a unique id each, keeping a usable id of their own', () => {
    const text = [
      'not json',
      '{"id": "a", "code": "1"}',
      '{"id": "a", "code": "2"}',
      '{"id": "c"}',
      '{"id": "a"}',
      'null',
    ].join('\n')
    const invalid = parseCases(text)
      .filter((entry) => !entry.ok)
      .map((entry) => entry.value)
    expect(invalid).toEqual([
      { id: 'line-1', message: expect.stringMatching(/^line 1: not JSON/) },
      { id: 'line-3', message: 'line 3: id "a" is used by an earlier line' },
      { id: 'c', message: expect.stringMatching(/^line 4: code: /) },
      { id: 'line-5', message: expect.stringMatching(/^line 5: code: /) },
      { id: 'line-6', message: expect.stringMatching(/^line 6: \(line\): /) },
    ])
  })
})

describe('normalizeStdout', () => {
  it('ignores line endings, whitespace at line ends and trailing blank lines only', () => {
    expect(normalizeStdout('a  \r\nb\t\n\n\n')).toBe('a\nb')
    expect(normalizeStdout('2\n')).toBe(normalizeStdout('2'))
    expect(normalizeStdout(' a\n\nb')).toBe(' a\n\nb')
  })
})
