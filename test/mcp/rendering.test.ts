/**
 * Rich output through MCP, end to end: the SDK's real Client over stdio against `sandbox-mcp` in
 * embedded mode, real kernels. What arrives as image blocks, embedded resources and JSON results
 * (mcp/tools/rich-content.ts). Needs python3-plotly, -sympy and -seaborn.
 */
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type Connected, call, connectStdio } from './helpers.js'

type Block = CallToolResult['content'][number]

describe('run_code rich output over stdio', () => {
  let connection: Connected
  const run = (code: string) => call(connection.client, 'run_code', { code })
  const resources = (content: Block[]) =>
    content.flatMap((block) => (block.type === 'resource' ? [block.resource] : []))

  beforeAll(async () => {
    connection = await connectStdio()
  })
  afterAll(() => connection?.close())

  it('a seaborn plot is an image block; a DataFrame its text in results and its HTML a resource', async () => {
    const plot = await run(
      'import seaborn as sns\nimport matplotlib.pyplot as plt\nsns.histplot([1, 2, 2, 3])\nplt.show()',
    )
    expect(plot.result.content).toContainEqual(
      expect.objectContaining({ type: 'image', mimeType: 'image/png' }),
    )
    const table = await run("import pandas as pd\npd.DataFrame({'a': [1, 2]})")
    expect(table.json.results).toEqual([{ 'text/plain': '   a\n0  1\n1  2', is_main_result: true }])
    expect(resources(table.result.content)).toEqual([
      expect.objectContaining({
        mimeType: 'text/html',
        uri: expect.stringMatching(/^sandbox:\/\/contexts\/ctx-[^/]+\/results\/0\.html$/),
        text: expect.stringContaining('<table'),
      }),
    ])
    expect(table.result.structuredContent).toEqual(table.json)
  })

  it('a plotly figure is its JSON in results, without the HTML that needs plotly.js', async () => {
    const { result, json } = await run(
      "import plotly.express as px\npx.line(x=[1, 2, 3], y=[3, 1, 2], title='trend')",
    )
    const figure = json.results[0]['application/vnd.plotly.v1+json']
    expect(figure.data[0]).toMatchObject({ type: 'scatter', mode: 'lines' })
    expect(JSON.stringify(json.results)).not.toContain('text/html')
    expect(resources(result.content)).toEqual([])
  })

  it('sympy LaTeX and text in results; SVG as an image/svg+xml resource', async () => {
    const latex = await run("import sympy as sp\nx = sp.symbols('x')\nsp.sqrt(x) / 2")
    expect(latex.json.results).toEqual([
      {
        'text/latex': '$\\displaystyle \\frac{\\sqrt{x}}{2}$',
        'text/plain': 'sqrt(x)/2',
        is_main_result: true,
      },
    ])
    const svg = await run(
      'from IPython.display import SVG\nSVG(\'<svg xmlns="http://www.w3.org/2000/svg"><rect width="4" height="4"/></svg>\')',
    )
    expect(resources(svg.result.content)).toEqual([
      expect.objectContaining({
        mimeType: 'image/svg+xml',
        text: expect.stringContaining('<rect'),
      }),
    ])
    expect(svg.result.content.some((block) => block.type === 'image')).toBe(false)
  })
})
