#!/usr/bin/env bash
# Makes gVisor's `runsc` a runtime of the local Docker engine, for the docker runtime's
# SANDBOX_DOCKER_OCI_RUNTIME=runsc: installs Debian's `runsc`, merges a "runsc" entry into
# /etc/docker/daemon.json (keeping everything else there) and makes dockerd reload it (SIGHUP).
# Safe to run twice: does nothing when the engine already lists runsc.
#
# `--network=none`: runsc's own network stack fails here ("cannot run with network enabled in root
# network namespace"), and context containers have no network anyway (SANDBOX_DOCKER_NETWORK=none).
# Environment: DOCKER (client; default docker). Needs root (or sudo) unless runsc is there already.
set -euo pipefail

DOCKER=${DOCKER:-docker}
DAEMON_JSON=${SCI_DAEMON_JSON:-/etc/docker/daemon.json}
log() { echo "gvisor: $*" >&2; }
as_root() { if [[ $(id -u) -eq 0 ]]; then "$@"; else sudo -n "$@"; fi; }
has_runsc() { "$DOCKER" info --format '{{json .Runtimes}}' 2>/dev/null | grep -q '"runsc"'; }

if has_runsc; then
  log "the engine already has the runsc runtime"
  exit 0
fi

if [[ ! -x /usr/bin/runsc ]]; then
  log "installing Debian's runsc"
  if ! apt-cache show runsc >/dev/null 2>&1; then as_root apt-get update -qq; fi
  as_root env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -qq \
    --no-install-recommends runsc >/dev/null
fi

# Merge, never overwrite: the file may hold the host's own settings.
as_root mkdir -p "$(dirname "$DAEMON_JSON")"
current=$(as_root cat "$DAEMON_JSON" 2>/dev/null || true)
merged=$(printf '%s' "$current" | node -e '
  let text = ""
  process.stdin.on("data", (d) => (text += d)).on("end", () => {
    const config = text.trim() ? JSON.parse(text) : {}
    config.runtimes = { ...config.runtimes, runsc: { path: "/usr/bin/runsc", runtimeArgs: ["--network=none"] } }
    process.stdout.write(JSON.stringify(config, null, 2) + "\n")
  })')
printf '%s' "$merged" | as_root tee "$DAEMON_JSON.sci-new" >/dev/null
as_root mv "$DAEMON_JSON.sci-new" "$DAEMON_JSON"
log "added the runsc runtime to $DAEMON_JSON"

# dockerd reloads daemon.json's runtimes on SIGHUP; its pid file says which process it is.
if command -v systemctl >/dev/null && [[ -d /run/systemd/system ]] && systemctl is-active -q docker; then
  as_root systemctl reload docker
else
  as_root kill -HUP "$(as_root cat /var/run/docker.pid)"
fi
for _ in $(seq 1 40); do
  has_runsc && break
  sleep 0.25
done
if ! has_runsc; then
  log "error: dockerd did not take the runsc runtime from $DAEMON_JSON (see its log)"
  exit 1
fi
log "the engine now has the runsc runtime"
