#!/usr/bin/env bash
# Sets up the machine, then runs every check: types, lint and format, the tests against real
# kernels, and the Docker stack end to end (required in CI: no Docker engine is a failure there).
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/setup.sh
# By path: tslab's bundled TypeScript also installs a `tsc` bin that may win the .bin link.
node node_modules/typescript/bin/tsc --noEmit
npx biome check .
npx vitest run
bash scripts/test-docker.sh
