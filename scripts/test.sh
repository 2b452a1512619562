#!/usr/bin/env bash
# Sets up the machine, then runs every check: types, lint and format, and all tests.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/setup.sh
npx tsc --noEmit
npx biome check .
npx vitest run
