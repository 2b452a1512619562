/**
 * What this machine charges for the things a forked kernel pays for most: a page fault on fresh
 * memory and a copy-on-write fault on a page its parent still shares, per 1,000 pages (so µs per
 * page in the ms columns), and a bare `python3 -c pass`. On a VM these vary between machines of one
 * kind and from day to day (seen: 5 and 12-20 µs per copy-on-write fault), and every kernel start
 * and one-shot run pays a few thousand of them: read the other tables beside this one.
 * Alone: `npx tsx bench/machine.ts`.
 */
import { execFileSync } from 'node:child_process'
import { pathToFileURL } from 'node:url'
import { PYTHON } from './eval.js'
import { type Row, summarize, table } from './stats.js'

// Prints one JSON line: ms per 1,000 pages for each kind of fault, one sample per round.
const FAULTS = `
import json, mmap, os, time
PAGES, ROUNDS = 4096, 9
def fresh():
    m = mmap.mmap(-1, PAGES * 4096)
    started = time.perf_counter()
    for i in range(PAGES):
        m[i * 4096] = 1
    took = time.perf_counter() - started
    m.close()
    return took * 1e6 / PAGES
parent = mmap.mmap(-1, PAGES * 4096)
for i in range(PAGES):
    parent[i * 4096] = 1
def copy_on_write():
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        started = time.perf_counter()
        for i in range(PAGES):
            parent[i * 4096] = 2
        os.write(w, str((time.perf_counter() - started) * 1e6 / PAGES).encode())
        os._exit(0)
    os.close(w)
    took = float(os.read(r, 64))
    os.close(r)
    os.waitpid(pid, 0)
    return took
print(json.dumps({"fresh": [fresh() for _ in range(ROUNDS)], "cow": [copy_on_write() for _ in range(ROUNDS)]}))
`

/** Page-fault costs and a bare interpreter's start, as rows. */
export function benchMachine(starts = 20): Row[] {
  const faults = JSON.parse(execFileSync(PYTHON, ['-c', FAULTS], { encoding: 'utf8' })) as {
    fresh: number[]
    cow: number[]
  }
  const interpreter: number[] = []
  for (let i = 0; i < starts; i++) {
    const started = performance.now()
    execFileSync(PYTHON, ['-c', 'pass'])
    interpreter.push(performance.now() - started)
  }
  return [
    summarize('1,000 page faults on fresh memory (µs per fault)', faults.fresh),
    summarize("1,000 copy-on-write faults on a parent's pages (µs per fault)", faults.cow),
    summarize('`python3 -c pass`, wall', interpreter),
  ]
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  process.stdout.write(`${table(benchMachine())}\n`)
}
