#!/usr/bin/env bash
# End-to-end test of the Docker stack: makes sure a Docker engine runs (installing Debian's
# docker.io, docker-compose and debootstrap when none answers) with gVisor's runsc as a runtime
# (scripts/gvisor.sh), makes the base images offline,
# builds both images, brings docker-compose.yml up with fresh random keys, runs test/e2e/ against
# it and takes it down again (`down -v`), checking that no container, network or volume is left.
#
# Without a working Docker engine: fails when CI=true or DOCKER_REQUIRED=1, otherwise prints a
# SKIPPED line and exits 0. A build or test failure always fails.
# Environment: DOCKER (client; default Debian's /usr/bin/docker when present, else docker),
#   SCI_E2E_KEEP=1 (leave the stack up afterwards, for debugging).
set -euo pipefail
cd "$(dirname "$0")/.."

PROJECT=sci-e2e
REQUIRED=0
[[ ${CI:-} == true || ${DOCKER_REQUIRED:-} == 1 ]] && REQUIRED=1
T0=$SECONDS
TIMES=()

log() { echo "test-docker: $*" >&2; }
phase() { TIMES+=("$1 $((SECONDS - $2))s"); }
no_docker() {
  if ((REQUIRED)); then
    log "FAILED: Docker is required here (CI=true or DOCKER_REQUIRED=1), but $*"
    exit 1
  fi
  echo "########################################################################"
  echo "test-docker: SKIPPED: the Docker stack was NOT tested: $*"
  echo "test-docker: (CI=true or DOCKER_REQUIRED=1 makes this a failure)"
  echo "########################################################################"
  exit 0
}
as_root() {
  if [[ $(id -u) -eq 0 ]]; then
    "$@"
  elif command -v sudo >/dev/null; then
    sudo -n "$@"
  else
    return 1
  fi
}
APT_UPDATED=0
apt_install() {
  command -v apt-get >/dev/null || return 1
  if ((!APT_UPDATED)); then
    as_root apt-get update -qq || return 1
    APT_UPDATED=1
  fi
  log "installing Debian packages: $*"
  as_root env DEBIAN_FRONTEND=noninteractive \
    apt-get install -y -qq --no-install-recommends "$@" >/dev/null || return 1
}

# ---- 1. A Docker engine and clients.
t=$SECONDS
# Debian's client (20.10) has BuildKit built in; a newer `docker` first on PATH may lack buildx.
DOCKER=${DOCKER:-$([[ -x /usr/bin/docker ]] && echo /usr/bin/docker || echo docker)}
if ! info_error=$("$DOCKER" info 2>&1); then
  [[ $info_error != *"permission denied"* ]] ||
    no_docker "this user may not use the running Docker engine (root or the docker group may)"
  if [[ ! -x /usr/sbin/dockerd ]] && ! command -v dockerd >/dev/null; then
    apt_install docker.io || no_docker "no Docker engine, and Debian's docker.io could not be installed"
    DOCKER=/usr/bin/docker
  fi
  if command -v systemctl >/dev/null && [[ -d /run/systemd/system ]]; then
    as_root systemctl start docker || true
  fi
  if ! "$DOCKER" info >/dev/null 2>&1; then
    log "starting dockerd (log: /var/log/sci-dockerd.log); it keeps running afterwards"
    dockerd_bin=$(command -v dockerd || echo /usr/sbin/dockerd)
    as_root sh -c "setsid nohup '$dockerd_bin' >>/var/log/sci-dockerd.log 2>&1 </dev/null &" ||
      no_docker "dockerd could not be started"
    for _ in $(seq 1 60); do
      "$DOCKER" info >/dev/null 2>&1 && break
      sleep 0.5
    done
  fi
  "$DOCKER" info >/dev/null 2>&1 || no_docker "dockerd does not answer (see /var/log/sci-dockerd.log)"
fi
if "$DOCKER" compose version >/dev/null 2>&1; then
  COMPOSE=("$DOCKER" compose)
elif command -v docker-compose >/dev/null; then
  COMPOSE=(docker-compose)
else
  apt_install docker-compose || no_docker "no Compose: neither 'docker compose' nor docker-compose"
  COMPOSE=(docker-compose)
fi
# BuildKit where the client has it built in (before 23.0) or as the buildx plugin.
client_major=$("$DOCKER" version --format '{{.Client.Version}}' 2>/dev/null | cut -d. -f1)
if [[ ${client_major:-99} -lt 23 ]] || "$DOCKER" buildx version >/dev/null 2>&1; then
  export DOCKER_BUILDKIT=1
else
  export DOCKER_BUILDKIT=0
fi
log "engine $("$DOCKER" version --format '{{.Server.Version}}'), client $DOCKER," \
  "compose: ${COMPOSE[*]} $("${COMPOSE[@]}" version --short 2>/dev/null), BuildKit=$DOCKER_BUILDKIT"
# gVisor as an engine runtime, for the docker runtime suite under runsc (scripts/test.sh).
if ! DOCKER=$DOCKER bash scripts/gvisor.sh; then
  ((REQUIRED)) && exit 1
  log "warning: no runsc runtime; the docker runtime suite under gVisor will skip"
fi
phase engine "$t"

for name in sandbox-code-interpreter sci-mcp; do
  if "$DOCKER" container inspect "$name" >/dev/null 2>&1; then
    log "error: a container named $name exists already (a stack of yours?): take it down first"
    exit 1
  fi
done

# ---- 2. Base images, made offline when no registry gave them.
t=$SECONDS
if ! "$DOCKER" image inspect debian:bookworm-slim >/dev/null 2>&1 &&
  ! command -v debootstrap >/dev/null; then
  apt_install debootstrap || {
    log "error: debootstrap is needed to make the base images and could not be installed"
    exit 1
  }
fi
DOCKER=$DOCKER bash scripts/docker-base-images.sh
phase base-images "$t"

WORK=$(mktemp -d)
STACK_UP=0
compose() { "${COMPOSE[@]}" --env-file "$WORK/e2e.env" -p "$PROJECT" -f docker-compose.yml "$@"; }
leftovers() {
  local filter="label=com.docker.compose.project=$PROJECT"
  "$DOCKER" container ls -q --all --filter "$filter"
  "$DOCKER" network ls -q --filter "$filter"
  "$DOCKER" volume ls -q --filter "$filter"
}
cleanup() {
  local status=$?
  trap - EXIT INT TERM
  if ((STACK_UP)); then
    if ((status != 0)); then
      log "failed: the stack's last logs"
      compose logs --no-color --tail 60 >&2 || true
    fi
    if [[ ${SCI_E2E_KEEP:-} == 1 ]]; then
      log "SCI_E2E_KEEP=1: the stack stays up; take it down with ${COMPOSE[*]} -p $PROJECT down -v"
    else
      compose down -v --remove-orphans --timeout 20 >/dev/null 2>&1 || true
      if [[ -n $(leftovers) ]]; then
        log "error: down -v left Docker objects behind: $(leftovers | tr '\n' ' ')"
        status=1
      else
        log "down -v: no container, network or volume left"
      fi
    fi
  fi
  rm -rf "$WORK"
  log "times: ${TIMES[*]}; total $((SECONDS - T0))s"
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---- 3. Images, as `compose build` makes them; built here so that BuildKit is used whatever the
# Compose version.
t=$SECONDS
for service in sandbox mcp; do
  log "building sandbox-code-interpreter/$service from Dockerfile.$service"
  if ! "$DOCKER" build -f "Dockerfile.$service" -t "sandbox-code-interpreter/$service:latest" . \
    >"$WORK/build-$service.log" 2>&1; then
    tail -n 40 "$WORK/build-$service.log" >&2
    log "error: building Dockerfile.$service failed"
    exit 1
  fi
done
# The slim profile (core libraries only), for test/docker/libraries.test.ts; it shares the full
# build's layers up to the kernels' packages.
log "building sandbox-code-interpreter/sandbox:slim (SANDBOX_PROFILE=slim)"
if ! "$DOCKER" build -f Dockerfile.sandbox --build-arg SANDBOX_PROFILE=slim \
  -t sandbox-code-interpreter/sandbox:slim . >"$WORK/build-slim.log" 2>&1; then
  tail -n 40 "$WORK/build-slim.log" >&2
  log "error: building the slim profile of Dockerfile.sandbox failed"
  exit 1
fi
phase build "$t"
# The images these builds replaced, now untagged: they would pile up run after run.
"$DOCKER" image prune -f --filter label=sci.project=sandbox-code-interpreter >/dev/null
for image in sandbox:latest sandbox:slim mcp:latest; do
  log "image sandbox-code-interpreter/$image:" \
    "$("$DOCKER" image inspect -f '{{.Size}}' "sandbox-code-interpreter/$image" |
      awk '{printf "%.0f MB", $1 / 1000000}')"
done

# ---- 4. The stack, with settings of its own: a developer's .env plays no part.
{
  echo "SANDBOX_API_KEY=$(od -An -N24 -tx1 /dev/urandom | tr -d ' \n')"
  echo "MCP_API_KEY=$(od -An -N24 -tx1 /dev/urandom | tr -d ' \n')"
  echo "SCI_IMAGE_TAG=latest"
} >"$WORK/e2e.env"
compose config -q
t=$SECONDS
up_start=$(date +%s%N)
STACK_UP=1
compose up -d --no-build 2>&1 | sed 's/^/test-docker: compose: /' >&2
health=
for _ in $(seq 1 240); do
  health=$("$DOCKER" inspect -f '{{.State.Health.Status}}' sandbox-code-interpreter sci-mcp | tr '\n' ' ')
  [[ $health == "healthy healthy " ]] && break
  sleep 0.5
done
if [[ $health != "healthy healthy " ]]; then
  log "error: the stack is not healthy 120 s after 'up': $health"
  exit 1
fi
log "stack healthy $((($(date +%s%N) - up_start) / 1000000)) ms after 'up'"
phase up-to-healthy "$t"
"$DOCKER" stats --no-stream --format 'test-docker: idle {{.Name}}: {{.MemUsage}}, {{.PIDs}} pids' \
  sandbox-code-interpreter sci-mcp >&2

# ---- 5. The end-to-end suite.
t=$SECONDS
set -a
# shellcheck source=/dev/null
source "$WORK/e2e.env"
set +a
DOCKER=$DOCKER npx vitest run --project e2e
phase e2e "$t"
