#!/usr/bin/env bash
# bench/swarm.ts on a fresh test cluster of a manager and three workers (kernels on the workers
# only, as deploy/stack.yml places them), then takes the cluster down. Prints Markdown tables.
# Needs the images scripts/test-docker.sh builds; SCI_SANDBOX_IMAGE and SCI_MCP_IMAGE pick others.
# Environment: BENCH_N, BENCH_CONTEXTS (see bench/swarm.ts), DOCKER.
set -euo pipefail
cd "$(dirname "$0")/.."
WORK=$(mktemp -d)
cleanup() {
  local status=$?
  bash scripts/swarm-cluster.sh down || status=1
  rm -rf "$WORK"
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

SCI_CLUSTER_WORKERS=3 bash scripts/swarm-cluster.sh up >"$WORK/cluster.env"
contexts=${BENCH_CONTEXTS:-60}
SANDBOX_MAX_CONTEXTS=$((contexts + 8)) SANDBOX_POOL_PYTHON=2 SANDBOX_POOL_JAVASCRIPT=0 \
  SANDBOX_POOL_TYPESCRIPT=0 LOG_LEVEL=warn bash scripts/swarm-cluster.sh deploy >"$WORK/stack.env"
set -a
# shellcheck source=/dev/null
source "$WORK/cluster.env"
# shellcheck source=/dev/null
source "$WORK/stack.env"
set +a
BENCH_POOL=2 npx tsx bench/swarm.ts
