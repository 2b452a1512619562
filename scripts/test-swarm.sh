#!/usr/bin/env bash
# The swarm runtime on a real multi-node Swarm: brings up a cluster of Docker-in-Docker nodes on
# this machine (scripts/swarm-cluster.sh: a manager, two workers, a registry), deploys
# deploy/stack.yml on it, runs test/swarm/ against the deployed service (vitest project "swarm"),
# then test/swarm/faults.test.ts, which kills a worker, and takes everything down again. Node
# names are the nodes' container names, so the fault test's `docker kill {node}` kills that node.
#
# Needs the images scripts/test-docker.sh builds (SCI_SANDBOX_IMAGE, SCI_MCP_IMAGE). Without a
# working Docker engine: fails when CI=true or DOCKER_REQUIRED=1, otherwise prints a SKIPPED line
# and exits 0. A failure anywhere else always fails.
# Environment: DOCKER (client), SCI_SANDBOX_IMAGE, SCI_MCP_IMAGE (see swarm-cluster.sh),
#   SCI_SWARM_KEEP=1 (leave cluster and stack up afterwards, for debugging).
set -euo pipefail
cd "$(dirname "$0")/.."

REQUIRED=0
[[ ${CI:-} == true || ${CI:-} == 1 || ${DOCKER_REQUIRED:-} == 1 ]] && REQUIRED=1
DOCKER=${DOCKER:-$([[ -x /usr/bin/docker ]] && echo /usr/bin/docker || echo docker)}
export DOCKER
STACK=sci
T0=$SECONDS
TIMES=()

log() { echo "test-swarm: $*" >&2; }
phase() { TIMES+=("$1 $((SECONDS - $2))s"); }
if ! "$DOCKER" info >/dev/null 2>&1; then
  if ((REQUIRED)); then
    log "FAILED: Docker is required here (CI=true or DOCKER_REQUIRED=1), but no engine answers"
    exit 1
  fi
  echo "########################################################################"
  echo "test-swarm: SKIPPED: the swarm runtime was NOT tested: no Docker engine answers"
  echo "test-swarm: (CI=true or DOCKER_REQUIRED=1 makes this a failure)"
  echo "########################################################################"
  exit 0
fi

WORK=$(mktemp -d)
CLUSTER_UP=0
cleanup() {
  local status=$?
  trap - EXIT INT TERM
  if ((CLUSTER_UP)); then
    if ((status != 0)); then
      log "failed: the manager's services and the sandbox's last logs"
      "$DOCKER" exec "$MANAGER" docker service ls >&2 || true
      "$DOCKER" exec "$MANAGER" docker service logs --no-task-ids --raw \
        "${STACK}_sandbox-code-interpreter" 2>&1 | grep -E '"level":"(WARN|ERROR|FATAL)"' |
        tail -n 60 >&2 || true
    fi
    if [[ ${SCI_SWARM_KEEP:-} == 1 ]]; then
      log "SCI_SWARM_KEEP=1: the cluster stays up; take it down with scripts/swarm-cluster.sh down"
    else
      local t=$SECONDS
      bash scripts/swarm-cluster.sh down || status=1
      phase down "$t"
    fi
  fi
  rm -rf "$WORK"
  log "times: ${TIMES[*]}; total $((SECONDS - T0))s"
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---- 1. The cluster. It serves the slim profile: the suite needs no more, and every node pulls
# the image (the full one is 0.4 GB larger).
export SCI_SANDBOX_IMAGE=${SCI_SANDBOX_IMAGE:-sandbox-code-interpreter/sandbox:slim}
t=$SECONDS
CLUSTER_UP=1
MANAGER=sci-cluster-manager
bash scripts/swarm-cluster.sh up >"$WORK/cluster.env"
set -a
# shellcheck source=/dev/null
source "$WORK/cluster.env"
set +a
MANAGER=$SCI_SWARM_MANAGER
phase cluster-up "$t"

# ---- 2. The stack. A small warm pool: every pooled kernel is a service on a worker of a small
# machine.
t=$SECONDS
# Generous start deadlines: a kernel service starting on a busy 2-core machine can take a minute.
# A token key, so that a restarted service re-adopts its contexts (test/swarm/adopt.test.ts).
SANDBOX_POOL_PYTHON=2 SANDBOX_POOL_JAVASCRIPT=1 SANDBOX_POOL_TYPESCRIPT=0 \
  SANDBOX_SWARM_PENDING_TIMEOUT=120 SANDBOX_STARTUP_TIMEOUT=180 \
  SANDBOX_SWARM_TOKEN_KEY=$(od -An -N32 -tx1 /dev/urandom | tr -d ' \n') \
  bash scripts/swarm-cluster.sh deploy >"$WORK/stack.env"
set -a
# shellcheck source=/dev/null
source "$WORK/stack.env"
set +a
phase stack-up "$t"

# ---- 3. The suite, then the fault tests (one leaves the cluster a worker short). What
# test/swarm/helpers.ts reads:
export SWARM_SANDBOX_URL=$SCI_SWARM_URL SWARM_API_KEY=$SANDBOX_API_KEY SWARM_SCOPE=$SCI_SWARM_SCOPE \
  SWARM_DOCKER_HOST=$SCI_SWARM_DOCKER_HOST SWARM_IMAGE=$SCI_SWARM_SANDBOX_IMAGE \
  SWARM_KILL_COMMAND="$DOCKER kill {node}" SWARM_REQUIRED=1 \
  SWARM_RESTART_COMMAND="$DOCKER exec $MANAGER docker service update --force --quiet ${STACK}_sandbox-code-interpreter"
t=$SECONDS
# By file: the project's own include wins over --exclude.
suite=()
for file in test/swarm/*.test.ts; do
  [[ $file == *.unit.test.ts || $file == test/swarm/faults.test.ts ]] || suite+=("$file")
done
npx vitest run --project swarm "${suite[@]}"
phase suite "$t"
t=$SECONDS
npx vitest run --project swarm test/swarm/faults.test.ts
phase faults "$t"
