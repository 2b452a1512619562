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
# The docker runtime suite twice: containers under runc, then under gVisor (runsc, which
# scripts/test-docker.sh set up with scripts/gvisor.sh). A JavaScript kernel reads thousands of
# files at start, each a round trip to gVisor's file proxy: a suite's warm pool takes longer.
npx vitest run --project docker
SANDBOX_DOCKER_OCI_RUNTIME=runsc npx vitest run --project docker --hookTimeout 360000
# The swarm runtime on a Swarm of a manager and two workers, each a Docker-in-Docker node on this
# machine, serving the slim image from a local registry (about 6 minutes on a quiet machine).
bash scripts/test-swarm.sh
