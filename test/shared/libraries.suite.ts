/**
 * The full profile's libraries on a real runtime, one test per family that model-written code
 * reaches for: a scikit-learn fit and predict, a seaborn plot and a networkx drawing as PNG, an
 * xlsx written and read back with openpyxl in the working directory (and listed by the files API),
 * a statsmodels OLS summary; and none of them preloaded by the kernel, only imported on use.
 * One suite, run by test/sandbox/libraries.test.ts (process runtime, the host's Debian packages
 * from scripts/setup.sh) and test/docker/libraries.test.ts (the sandbox image).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { ExecutionResult } from '../../sandbox/api.js'
import type { RunningSandbox } from '../helpers/sandbox.js'
import { createContext, exec, type RuntimeTarget } from './runtime.js'

/** Modules of the full profile that a fresh kernel must not have imported (kernel start). */
/**
 * Seconds an execute of this suite may take: the first import of SciPy, scikit-learn and
 * statsmodels reads about 200 MB of modules, over 30 s (the default) on a loaded 2-core machine.
 */
const IMPORT_TIMEOUT_S = 120
/** Per test, beyond the vitest projects' 60 s and 120 s defaults. */
const TEST_TIMEOUT_MS = 180_000

export const FULL_ONLY_MODULES = [
  'sklearn',
  'scipy',
  'seaborn',
  'statsmodels',
  'networkx',
  'openpyxl',
]

/** The decoded first PNG an execution displayed; fails the test when there is none. */
export function displayedPng(result: ExecutionResult): Buffer {
  expect(result.error).toBeUndefined()
  const png = result.results.find((r) => typeof r['image/png'] === 'string')?.['image/png']
  expect(png, `no image/png in ${JSON.stringify(result.results).slice(0, 500)}`).toBeTypeOf(
    'string',
  )
  const bytes = Buffer.from(String(png), 'base64')
  expect(bytes.subarray(1, 4).toString()).toBe('PNG')
  return bytes
}

/**
 * Registers the libraries suite for one runtime; it starts its own sandbox.
 * @param runtime - the runtime under test, with the full profile's packages
 */
export function describeLibraries(runtime: RuntimeTarget): void {
  describe.skipIf(runtime.skip)(`${runtime.name} runtime: libraries (full profile)`, () => {
    let s: RunningSandbox
    let ctx: string
    beforeAll(async () => {
      s = await runtime.start({ poolSize: { python: 1, javascript: 0, typescript: 0 } })
      ctx = await createContext(s)
    })
    afterAll(() => s?.close())
    const run = (code: string) => exec(s, ctx, code, IMPORT_TIMEOUT_S)

    it(
      'starts kernels without the full-only libraries, which import on use',
      async () => {
        const loaded = async (code: string) => {
          const result = await run(
            `${code}\nimport json, sys\nprint(json.dumps(sorted(m for m in ${JSON.stringify(FULL_ONLY_MODULES)} if m in sys.modules)))`,
          )
          expect(result.error).toBeUndefined()
          return JSON.parse(result.output.stdout) as string[]
        }
        expect(await loaded('')).toEqual([])
        expect(await loaded(`import ${FULL_ONLY_MODULES.join(', ')}`)).toEqual(
          [...FULL_ONLY_MODULES].sort(),
        )
      },
      TEST_TIMEOUT_MS,
    )

    it(
      'scikit-learn: fits a model and predicts with it',
      async () => {
        const result = await run(
          [
            'import numpy as np',
            'from sklearn.linear_model import LinearRegression',
            'from sklearn.ensemble import RandomForestClassifier',
            'X = np.arange(20).reshape(-1, 1)',
            'line = LinearRegression().fit(X, 3 * X.ravel() + 2)',
            'forest = RandomForestClassifier(n_estimators=10, random_state=0).fit(X, X.ravel() >= 10)',
            'print(round(float(line.predict([[40]])[0]), 6), forest.predict([[2], [18]]).tolist())',
          ].join('\n'),
        )
        expect(result.error).toBeUndefined()
        expect(result.output.stdout).toBe('122.0 [False, True]\n')
      },
      TEST_TIMEOUT_MS,
    )

    it(
      'seaborn: a plot arrives as image/png',
      async () => {
        const result = await run(
          [
            'import pandas as pd, seaborn as sns, matplotlib.pyplot as plt',
            'df = pd.DataFrame({"day": ["mon", "tue", "wed"] * 4, "sales": range(12)})',
            'sns.barplot(data=df, x="day", y="sales")',
            'plt.show()',
          ].join('\n'),
        )
        expect(displayedPng(result).length).toBeGreaterThan(1000)
      },
      TEST_TIMEOUT_MS,
    )

    it(
      'openpyxl: an xlsx written in the working directory reads back, and the files API lists it',
      async () => {
        const result = await run(
          [
            'from openpyxl import Workbook, load_workbook',
            'wb = Workbook()',
            'ws = wb.active',
            'ws.title = "totals"',
            'ws.append(["region", "amount"])',
            'ws.append(["east", 17])',
            'ws["C2"] = "=B2*2"',
            'wb.save("report.xlsx")',
            'back = load_workbook("report.xlsx")["totals"]',
            'import pandas as pd',
            'df = pd.read_excel("report.xlsx", sheet_name="totals")',
            'print([c.value for c in back[2]], df.amount.sum())',
          ].join('\n'),
        )
        expect(result.error).toBeUndefined()
        expect(result.output.stdout).toBe("['east', 17, '=B2*2'] 17\n")
        const listing = await s.client.listFiles(ctx)
        const entry = listing.entries.find((e) => e.name === 'report.xlsx')
        expect(entry).toMatchObject({ type: 'file', size: expect.any(Number) })
        const file = await s.client.readFile(ctx, 'report.xlsx')
        expect(file.size).toBe(entry?.size)
        // An xlsx is a zip archive.
        expect(Buffer.from(file.bytes.subarray(0, 2)).toString()).toBe('PK')
      },
      TEST_TIMEOUT_MS,
    )

    it(
      'statsmodels: an OLS summary, as text and as an HTML table',
      async () => {
        const result = await run(
          [
            'import numpy as np, statsmodels.api as sm',
            'x = np.arange(30.0)',
            'y = 2 * x + 1 + np.where(np.arange(30) % 2, 0.5, -0.5)',
            'fit = sm.OLS(y, sm.add_constant(x)).fit()',
            'print(round(fit.params[1], 1))',
            'fit.summary()',
          ].join('\n'),
        )
        expect(result.error).toBeUndefined()
        expect(result.output.stdout).toBe('2.0\n')
        const summary = result.results.find((r) => r.is_main_result)
        expect(String(summary?.['text/plain'])).toContain('OLS Regression Results')
        expect(String(summary?.['text/html'])).toContain('<table')
      },
      TEST_TIMEOUT_MS,
    )

    it('networkx: a drawn graph arrives as image/png', async () => {
      const result = await run(
        [
          'import networkx as nx, matplotlib.pyplot as plt',
          'g = nx.petersen_graph()',
          'nx.draw(g, with_labels=True)',
          'print(g.number_of_nodes(), g.number_of_edges(), nx.diameter(g))',
          'plt.show()',
        ].join('\n'),
      )
      expect(result.output.stdout).toBe('10 15 2\n')
      expect(displayedPng(result).length).toBeGreaterThan(1000)
    })
  })
}
