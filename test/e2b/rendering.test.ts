/**
 * Rich output through the E2B front door, read by the official @e2b/code-interpreter SDK (debug
 * mode) from real kernels: each MIME type in the Result field the SDK reads (html, latex, svg,
 * png, json; anything else under `extra`, as E2B's own server sends it). Needs python3-plotly,
 * -sympy, -folium and -jinja2.
 */
import { type Result, Sandbox } from '@e2b/code-interpreter'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { startE2bSandbox } from '../helpers/e2b.js'

let service: Awaited<ReturnType<typeof startE2bSandbox>>
let sbx: Sandbox

beforeAll(async () => {
  service = await startE2bSandbox()
  sbx = await Sandbox.create({ debug: true })
})
afterAll(async () => {
  await service?.close()
})

/** The results of a cell, after checking that it ran without an error. */
async function results(code: string): Promise<Result[]> {
  const execution = await sbx.runCode(code)
  expect(execution.error, execution.logs.stderr.join('')).toBeUndefined()
  return execution.results
}

describe('rich output by Result field', () => {
  test('plotly: the figure JSON under extra, and html', async () => {
    const [figure] = await results(
      'import plotly.graph_objects as go\ngo.Figure(go.Bar(y=[1, 3, 2]))',
    )
    // E2B's server nests MIME types it has no field for under `extra`; this SDK keeps it in raw.
    const extra = figure?.raw.extra as unknown as Record<string, { data: { type: string }[] }>
    expect(extra['application/vnd.plotly.v1+json']?.data[0]?.type).toBe('bar')
    expect(figure?.html).toContain('Plotly.newPlot')
    expect(figure?.formats()).toContain('html')
  })

  test('sympy: latex and text', async () => {
    const [expr] = await results(
      "import sympy as sp\nx = sp.symbols('x')\nsp.Rational(1, 3) * x**2",
    )
    expect(expr?.latex).toBe('$\\displaystyle \\frac{x^{2}}{3}$')
    expect(expr?.text).toBe('x**2/3')
    expect(expr?.isMainResult).toBe(true)
  })

  test('SVG, a folium map, a pandas Styler and JSON', async () => {
    const [svg] = await results(
      'from IPython.display import SVG\nSVG(\'<svg xmlns="http://www.w3.org/2000/svg"><circle r="3"/></svg>\')',
    )
    expect(svg?.svg).toContain('<circle r="3"/>')
    const [map] = await results('import folium\nfolium.Map(location=[0, 0], zoom_start=2)')
    expect(map?.html).toContain('leaflet')
    const [styled] = await results(
      "import pandas as pd\npd.DataFrame({'a': [1, 2]}).style.format('{:.1f}')",
    )
    expect(styled?.html).toContain('1.0')
    const [json] = await results("from IPython.display import JSON\nJSON({'a': [1, 2]})")
    expect(json?.json).toEqual({ a: [1, 2] })
  })
})
