/**
 * Rich output of the libraries agents reach for, as REST `results` by MIME type, on a real
 * runtime: plotly (its JSON and an HTML fragment that needs no CDN), folium maps and pandas
 * Stylers (HTML), sympy (LaTeX and text), SVG, seaborn and statsmodels plots (PNG); and the
 * curated npm packages (package.json `kernelPackages`) from JavaScript and TypeScript, typed,
 * without the service's own dependencies, and tslab's display(). One suite, run by test/sandbox/rendering.test.ts
 * (process runtime) and test/docker/rendering.test.ts. Needs python3-plotly, -sympy, -folium,
 * -jinja2, -seaborn and -statsmodels where the kernels run.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { ExecutionResult, Language, ResultEntry } from '../../sandbox/api.js'
import type { RunningSandbox } from '../helpers/sandbox.js'
import { exec, type RuntimeTarget } from './runtime.js'

const PLOTLY = 'application/vnd.plotly.v1+json'

/** The one result that carries `mime`, after checking that the run succeeded. */
function resultWith(run: ExecutionResult, mime: string): ResultEntry {
  expect(run.error, run.output.stderr).toBeUndefined()
  const found = run.results.filter((entry) => mime in entry)
  expect(found, JSON.stringify(run.results).slice(0, 300)).toHaveLength(1)
  return found[0] as ResultEntry
}

function isPng(base64: unknown): boolean {
  return Buffer.from(String(base64), 'base64').subarray(1, 4).toString() === 'PNG'
}

/** A program using every kernel package, and what it prints. */
const PACKAGES_JS = `const Papa = require('papaparse')
const _ = require('lodash')
const { format } = require('date-fns')
const math = require('mathjs')
const rows = Papa.parse('a,b\\n1,2\\n3,4', { header: true, dynamicTyping: true }).data
console.log(_.sumBy(rows, 'b'), format(new Date(2024, 0, 2), 'yyyy-MM-dd'), math.evaluate('sqrt(16) + 2'))`
const PACKAGES_TS = `import Papa from 'papaparse'
import _ from 'lodash'
import { format } from 'date-fns'
import { evaluate } from 'mathjs'
const rows: { a: number; b: number }[] = Papa.parse<{ a: number; b: number }>('a,b\\n1,2\\n3,4', { header: true, dynamicTyping: true }).data
console.log(_.sumBy(rows, 'b'), format(new Date(2024, 0, 2), 'yyyy-MM-dd'), evaluate('sqrt(16) + 2'))`
const PACKAGES_OUT = '6 2024-01-02 6\n'

/**
 * Registers the rendering suite for one runtime; it starts its own sandbox.
 * @param runtime - the runtime under test; skipped (loudly, by its helpers) when it cannot run
 */
export function describeRendering(runtime: RuntimeTarget): void {
  describe.skipIf(runtime.skip)(`${runtime.name} runtime: rich output`, () => {
    let s: RunningSandbox
    const ids = new Map<Language, string>()
    const run = (language: Language, code: string) => exec(s, ids.get(language) ?? '', code, 60)

    beforeAll(async () => {
      s = await runtime.start({ poolSize: { python: 1, javascript: 1, typescript: 1 } })
      for (const language of ['python', 'javascript', 'typescript'] as const) {
        ids.set(language, (await s.client.createContext({ language })).context_id)
      }
    })
    afterAll(() => s?.close())

    it('plotly: the figure JSON and an HTML fragment without plotly.js, shown or as a value', async () => {
      const code =
        "import plotly.express as px\nfig = px.bar(x=['a', 'b'], y=[1, 2], title='sales')\nfig.show()"
      const shown = resultWith(await run('python', code), PLOTLY)
      const figure = shown[PLOTLY] as { data: { type: string }[]; layout: { title: unknown } }
      expect(figure.data[0]?.type).toBe('bar')
      expect(JSON.stringify(figure.layout.title)).toContain('sales')
      const html = String(shown['text/html'])
      expect(html).toContain('Plotly.newPlot')
      // No CDN (unreachable offline) and not the 8.6 MB library in every result.
      expect(html).not.toMatch(/<script[^>]+src=/)
      expect(html.length).toBeLessThan(64 * 1024)
      const value = resultWith(await run('python', 'fig'), PLOTLY)
      expect(value['text/html']).toContain('Plotly.newPlot')
    })

    it('plotly: a large figure keeps its JSON; its HTML is left out with a note', async () => {
      const large = resultWith(
        await run(
          'python',
          'import plotly.graph_objects as go\ngo.Figure(go.Scatter(y=list(range(60_000))))',
        ),
        PLOTLY,
      )
      expect((large[PLOTLY] as { data: { y: number[] }[] }).data[0]?.y).toHaveLength(60_000)
      expect(large['text/html']).toBeUndefined()
      expect(large['text/plain']).toMatch(/^\[text\/html of \d+ characters left out/)
    })

    it('plotly: write_html makes a standalone page with plotly.js inlined, offline', async () => {
      const written = await run(
        'python',
        "fig.write_html('chart.html')\npage = open('chart.html').read()\nprint(len(page) > 1_000_000, '<script src=\"http' in page)",
      )
      expect(written.output.stdout).toBe('True False\n')
    })

    it('folium map and pandas Styler: text/html', async () => {
      const map = resultWith(
        await run('python', 'import folium\nfolium.Map(location=[48.85, 2.35], zoom_start=12)'),
        'text/html',
      )
      expect(map['text/html']).toContain('leaflet')
      const styled = resultWith(
        await run(
          'python',
          "import pandas as pd\npd.DataFrame({'a': [1, 5, 3]}).style.highlight_max(color='yellow')",
        ),
        'text/html',
      )
      expect(styled['text/html']).toMatch(/<style[\s\S]*yellow[\s\S]*<table/)
    })

    it('sympy: text/latex and text/plain', async () => {
      const integral = resultWith(
        await run('python', "import sympy as sp\nx = sp.symbols('x')\nsp.Integral(sp.sqrt(x), x)"),
        'text/latex',
      )
      expect(integral).toMatchObject({
        'text/latex': '$\\displaystyle \\int \\sqrt{x}\\, dx$',
        'text/plain': 'Integral(sqrt(x), x)',
        is_main_result: true,
      })
    })

    it('SVG: image/svg+xml', async () => {
      const svg = resultWith(
        await run(
          'python',
          'from IPython.display import SVG\nSVG(\'<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"><circle r="5"/></svg>\')',
        ),
        'image/svg+xml',
      )
      expect(svg['image/svg+xml']).toContain('<circle r="5"/>')
    })

    it('seaborn and statsmodels: plots as image/png, an OLS summary as HTML', async () => {
      const seaborn = resultWith(
        await run(
          'python',
          'import seaborn as sns\nimport matplotlib.pyplot as plt\nsns.histplot([1, 2, 2, 3, 3, 3])\nplt.show()',
        ),
        'image/png',
      )
      expect(isPng(seaborn['image/png'])).toBe(true)
      const ols = await run(
        'python',
        'import numpy as np\nimport statsmodels.api as sm\nx = np.arange(20.0)\nfit = sm.OLS(2 * x + 1 + np.sin(x), sm.add_constant(x)).fit()\nfig = sm.qqplot(fit.resid)\nplt.show()\nfit.summary()',
      )
      expect(isPng(resultWith(ols, 'image/png')['image/png'])).toBe(true)
      expect(resultWith(ols, 'text/html')['text/html']).toContain('OLS Regression Results')
    })

    it('javascript: require finds the kernel packages and tslab display, not the service dependencies', async () => {
      expect((await run('javascript', PACKAGES_JS)).output.stdout).toBe(PACKAGES_OUT)
      const shown = await run(
        'javascript',
        "const { display } = require('tslab')\ndisplay.html('<b>hi</b>')\ndisplay.svg('<svg/>')",
      )
      expect(shown.results).toEqual([{ 'text/html': '<b>hi</b>' }, { 'image/svg+xml': '<svg/>' }])
      const hidden = await run('javascript', "require('hono')")
      expect(hidden.error?.value).toContain("Cannot find module 'hono'")
    })

    it('typescript: import finds the kernel packages with their types', async () => {
      const used = await run('typescript', PACKAGES_TS)
      expect(used.error).toBeUndefined()
      expect(used.output.stdout).toBe(PACKAGES_OUT)
      // The types are checked: @types/lodash says sum returns a number.
      const mistyped = await run('typescript', 'const total: string = _.sum([1, 2])')
      expect(mistyped.error?.name).toBe('CompileError')
      expect(mistyped.error?.value).toContain('not assignable')
      const shown = await run(
        'typescript',
        "import * as tslab from 'tslab'\ntslab.display.markdown('**hi**')",
      )
      expect(shown.results).toEqual([{ 'text/markdown': '**hi**' }])
      const hidden = await run('typescript', "import { Hono } from 'hono'\nconsole.log(Hono)")
      expect(hidden.error?.name).toBe('CompileError')
    })
  })
}
