#!/usr/bin/env bash
# Sets up the machine, then runs every check: types, lint and format, the fast layer (no Jupyter)
# and the tests against real kernels, the Docker stack end to end, the docker runtime (one
# container per context) against the image the stack build made, and the swarm runtime on a Swarm
# of Docker-in-Docker nodes with that image. In CI a missing Docker engine is a failure, not a skip.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/setup.sh
# By path: tslab's bundled TypeScript also installs a `tsc` bin that may win the .bin link.
node node_modules/typescript/bin/tsc --noEmit
npx biome check .
npx vitest run --project unit --project kernels
bash scripts/test-docker.sh
if [[ "${CI:-}" == "true" || "${CI:-}" == "1" ]]; then export DOCKER_REQUIRED=1; fi
npx vitest run --project docker
bash scripts/test-swarm.sh
