#!/usr/bin/env bash
# A Docker Swarm of one manager and N workers on this one machine, for testing the swarm runtime
# for real (scripts/test-swarm.sh) and for benchmarks. Every node is a container running Debian's
# dockerd (Docker-in-Docker) with /var/lib/docker on a volume of its own, on a bridge network of
# its own; a registry container (Debian's docker-registry) serves our images to the nodes offline.
# The host engine is never made a Swarm node.
#
# Usage: scripts/swarm-cluster.sh up | deploy | push | down | env | status
#   up      build the node image, start the registry and the nodes, init and join the Swarm, push
#           the images to the registry and pull them on the nodes; prints `env` at the end
#   deploy  `docker stack deploy -c deploy/stack.yml sci` on the manager, with fresh API keys, the
#           registry's images and this environment's SANDBOX_*, MCP_* and LOG_LEVEL settings; waits
#           until the sandbox answers /health and prints how to reach it (SCI_SWARM_URL, keys)
#   push    push the images again (after a rebuild) and pull them on the nodes
#   down    remove every container, volume, network and image `up` made (also after a failed up)
#   env     the cluster's settings a test or bench needs, as NAME=value lines (`set -a; source`)
#   status  nodes, services and disk use
# Environment:
#   DOCKER                  client (default: Debian's /usr/bin/docker when present, else docker)
#   SCI_CLUSTER             name prefix and label value of everything made (default sci-cluster)
#   SCI_CLUSTER_WORKERS     number of workers (default 2)
#   SCI_SANDBOX_IMAGE       sandbox image to serve (default sandbox-code-interpreter/sandbox:latest)
#   SCI_MCP_IMAGE           MCP image to serve (default sandbox-code-interpreter/mcp:latest)
#   SCI_CLUSTER_KEEP_NODE_IMAGE=1  `down` keeps the node image, so the next `up` skips its build
#   SCI_CLUSTER_HEARTBEAT   the Swarm's dispatcher heartbeat period (default 5s, Swarm's own): a
#                           node is declared down after a few missed heartbeats
#   SCI_STACK_SCOPE         the deployed service's SANDBOX_DOCKER_SCOPE (default sci-swarm-test)
#   DEBIAN_IMAGE            base of the node image (default debian:bookworm-slim)
set -euo pipefail
cd "$(dirname "$0")/.."

DOCKER=${DOCKER:-$([[ -x /usr/bin/docker ]] && echo /usr/bin/docker || echo docker)}
P=${SCI_CLUSTER:-sci-cluster}
WORKERS=${SCI_CLUSTER_WORKERS:-2}
SANDBOX_IMAGE=${SCI_SANDBOX_IMAGE:-sandbox-code-interpreter/sandbox:latest}
MCP_IMAGE=${SCI_MCP_IMAGE:-sandbox-code-interpreter/mcp:latest}
LABEL="sci.cluster=$P"
NODE_IMAGE="$P/node:latest"
NETWORK=$P
REGISTRY_CONTAINER="$P-registry"
# How the nodes name the registry: its container name on the cluster network.
REGISTRY="$REGISTRY_CONTAINER:5000"
MANAGER="$P-manager"
STACK=sci
SCOPE=${SCI_STACK_SCOPE:-sci-swarm-test}

log() { echo "swarm-cluster: $*" >&2; }
die() { log "error: $*" && exit 1; }
d() { "$DOCKER" "$@"; }
# The workers: those running (SCI_CLUSTER_WORKERS is only read by `up`), else the ones to make.
workers() {
  local made
  made=$(d container ls -a --filter "label=$LABEL" --filter label=sci.cluster.role=worker \
    --format '{{.Names}}' | sort)
  if [[ -n $made ]]; then echo "$made"; else for i in $(seq 1 "$WORKERS"); do echo "$P-worker$i"; done; fi
}
nodes() { echo "$MANAGER" && workers; }
# The docker CLI of a node, run inside it.
on() {
  local node=$1
  shift
  d exec "$node" docker "$@"
}
ip_of() { d inspect -f "{{(index .NetworkSettings.Networks \"$NETWORK\").IPAddress}}" "$1"; }
# The registry's image name of a local image: same repository and tag under the registry's host.
registry_name() { echo "$REGISTRY/$1"; }

wait_for() {
  local what=$1 tries=$2
  shift 2
  for _ in $(seq 1 "$tries"); do
    "$@" >/dev/null 2>&1 && return 0
    sleep 0.5
  done
  die "$what: not ready after $((tries / 2)) s"
}

start_node() {
  local name=$1 role=$2
  d volume create --label "$LABEL" "$name" >/dev/null
  # Not --privileged: runc 1.1 fails every privileged container on an engine whose capability
  # bounding set lacks one (here CAP_SYS_RESOURCE). Every capability the engine has, unconfined
  # seccomp and AppArmor, unmasked /proc and a cgroup namespace of its own are what dockerd inside
  # needs; the entrypoint makes /sys and the cgroups writable.
  d run -d --name "$name" --hostname "$name" --label "$LABEL" --label "sci.cluster.role=$role" \
    --network "$NETWORK" \
    --cap-add ALL --cap-drop SYS_RESOURCE \
    --security-opt seccomp=unconfined --security-opt apparmor=unconfined \
    --security-opt systempaths=unconfined --cgroupns private \
    -e SCI_REGISTRY="$REGISTRY" -e SCI_DOCKERD_TCP="$([[ $role == manager ]] && echo 1)" \
    -v "$name:/var/lib/docker" "$NODE_IMAGE" dockerd >/dev/null
}

up() {
  local t0=$SECONDS t
  d info >/dev/null 2>&1 || die "no Docker engine answers ($DOCKER info failed)"
  d container inspect "$MANAGER" >/dev/null 2>&1 && die "$MANAGER exists: run '$0 down' first"
  for image in "$SANDBOX_IMAGE" "$MCP_IMAGE"; do
    d image inspect "$image" >/dev/null 2>&1 || die "image $image is missing (scripts/test-docker.sh builds it)"
  done

  t=$SECONDS
  if ! d image inspect "$NODE_IMAGE" >/dev/null 2>&1; then
    log "building $NODE_IMAGE (Debian's docker.io and docker-registry)"
    d build -q --label "$LABEL" --build-arg "DEBIAN_IMAGE=${DEBIAN_IMAGE:-debian:bookworm-slim}" \
      -t "$NODE_IMAGE" deploy/swarm-node >/dev/null
  fi
  log "node image: $((SECONDS - t)) s"

  t=$SECONDS
  d network create --label "$LABEL" "$NETWORK" >/dev/null
  d volume create --label "$LABEL" "$REGISTRY_CONTAINER" >/dev/null
  # Published on loopback only, on a free port: the host engine pushes there (127.0.0.0/8 is an
  # insecure registry by default), the nodes pull from $REGISTRY on the cluster network.
  d run -d --name "$REGISTRY_CONTAINER" --hostname "$REGISTRY_CONTAINER" --label "$LABEL" \
    --network "$NETWORK" -p 127.0.0.1::5000 -v "$REGISTRY_CONTAINER:/var/lib/docker" \
    --cap-drop ALL --security-opt no-new-privileges "$NODE_IMAGE" registry >/dev/null
  start_node "$MANAGER" manager
  for i in $(seq 1 "$WORKERS"); do start_node "$P-worker$i" worker; done
  while read -r node; do wait_for "dockerd of $node" 120 on "$node" info; done < <(nodes)
  log "registry and $((WORKERS + 1)) engines: $((SECONDS - t)) s"

  t=$SECONDS
  local manager_ip token
  manager_ip=$(ip_of "$MANAGER")
  on "$MANAGER" swarm init --advertise-addr "$manager_ip" \
    --dispatcher-heartbeat "${SCI_CLUSTER_HEARTBEAT:-5s}" >/dev/null
  token=$(on "$MANAGER" swarm join-token -q worker)
  while read -r node; do
    on "$node" swarm join --token "$token" "$manager_ip:2377" >/dev/null
  done < <(workers)
  local ready="[ \$(docker node ls -q --filter role=worker | wc -l) -eq $WORKERS ] && ! docker node ls | grep -qvE 'Ready|HOSTNAME'"
  wait_for "the Swarm's nodes" 60 d exec "$MANAGER" sh -c "$ready"
  log "swarm of $((WORKERS + 1)) nodes: $((SECONDS - t)) s"

  push_images
  log "up in $((SECONDS - t0)) s; disk: $(disk_use)"
  env_lines
}

# Pushes the images to the registry (from the host engine) and pulls them on the nodes.
push_images() {
  local t=$SECONDS port pids=()
  port=$(d port "$REGISTRY_CONTAINER" 5000/tcp | head -n1 | sed 's/.*://')
  wait_for "the registry" 60 bash -c "exec 3<>/dev/tcp/127.0.0.1/$port"
  for image in "$SANDBOX_IMAGE" "$MCP_IMAGE"; do
    (
      d tag "$image" "127.0.0.1:$port/$image"
      d push -q "127.0.0.1:$port/$image" >/dev/null
      d rmi "127.0.0.1:$port/$image" >/dev/null
    ) &
    pids+=($!)
  done
  for pid in "${pids[@]}"; do wait "$pid" || die "pushing an image to the registry failed"; done
  log "pushed $SANDBOX_IMAGE and $MCP_IMAGE: $((SECONDS - t)) s"

  # Pulled ahead so that the first context or stack task does not wait for it: the sandbox image
  # on every node (kernels anywhere; the service on the manager), the MCP image on the manager.
  t=$SECONDS
  pids=()
  while read -r node; do
    on "$node" pull -q "$(registry_name "$SANDBOX_IMAGE")" >/dev/null &
    pids+=($!)
  done < <(nodes)
  on "$MANAGER" pull -q "$(registry_name "$MCP_IMAGE")" >/dev/null &
  pids+=($!)
  for pid in "${pids[@]}"; do wait "$pid" || die "a node could not pull from the registry"; done
  log "pulled on the nodes: $((SECONDS - t)) s"
}

disk_use() {
  local total=0 size
  for volume in $(d volume ls -q --filter "label=$LABEL"); do
    size=$(du -sb "$(d volume inspect -f '{{.Mountpoint}}' "$volume")" 2>/dev/null | cut -f1) || size=0
    total=$((total + ${size:-0}))
  done
  local image
  image=$(d image inspect -f '{{.Size}}' "$NODE_IMAGE" 2>/dev/null || echo 0)
  echo "volumes $((total / 1000000)) MB + node image $((image / 1000000)) MB"
}

env_lines() {
  local manager_ip
  manager_ip=$(ip_of "$MANAGER")
  echo "SCI_CLUSTER=$P"
  echo "SCI_SWARM_MANAGER=$MANAGER"
  echo "SCI_SWARM_MANAGER_IP=$manager_ip"
  # The manager's Engine API, without TLS, on the cluster network only (tests look at services).
  echo "SCI_SWARM_DOCKER_HOST=tcp://$manager_ip:2375"
  echo "SCI_SWARM_WORKERS=$(workers | paste -sd, -)"
  echo "SCI_SWARM_REGISTRY=$REGISTRY"
  echo "SCI_SWARM_SANDBOX_IMAGE=$(registry_name "$SANDBOX_IMAGE")"
  echo "SCI_SWARM_MCP_IMAGE=$(registry_name "$MCP_IMAGE")"
}

leftovers() {
  d container ls -aq --filter "label=$LABEL"
  d volume ls -q --filter "label=$LABEL"
  d network ls -q --filter "label=$LABEL"
  [[ ${SCI_CLUSTER_KEEP_NODE_IMAGE:-} == 1 ]] || d image ls -q --filter "label=$LABEL"
}

down() {
  local containers
  containers=$(d container ls -aq --filter "label=$LABEL")
  # -v: the anonymous volumes too. The nodes' own volumes are named and removed below.
  [[ -z $containers ]] || d rm -f -v $containers >/dev/null
  local volumes
  volumes=$(d volume ls -q --filter "label=$LABEL")
  [[ -z $volumes ]] || d volume rm $volumes >/dev/null
  local networks
  networks=$(d network ls -q --filter "label=$LABEL")
  [[ -z $networks ]] || d network rm $networks >/dev/null
  if [[ ${SCI_CLUSTER_KEEP_NODE_IMAGE:-} != 1 ]]; then
    local images
    images=$(d image ls -q --filter "label=$LABEL" | sort -u)
    [[ -z $images ]] || d rmi -f $images >/dev/null
  fi
  # Tags a push interrupted half-way may have left (127.0.0.1:<port>/...).
  d image ls --format '{{.Repository}}:{{.Tag}}' | grep -E '^127\.0\.0\.1:[0-9]+/' |
    grep -F -e "/$SANDBOX_IMAGE" -e "/$MCP_IMAGE" | xargs -r "$DOCKER" rmi >/dev/null || true
  if [[ -n $(leftovers) ]]; then
    die "down left Docker objects behind: $(leftovers | tr '\n' ' ')"
  fi
  log "down: no container, volume, network or image of $P left"
}

# The stack, deployed from the manager's own CLI (stdin), with the registry's images.
deploy() {
  local t0=$SECONDS work
  work=$(mktemp -d)
  # shellcheck disable=SC2064 # expand now: this run's directory
  trap "rm -rf '$work'" RETURN
  cp deploy/stack.yml "$work/stack.yml"
  # The contexts' overlay is encrypted where the nodes' kernel has IPsec (ESP). Without it an
  # encrypted overlay drops all traffic between nodes, so this cluster's stack goes without.
  local key
  key=0x$(od -An -N20 -tx1 /dev/urandom | tr -d ' \n')
  if d exec "$MANAGER" ip xfrm state add src 192.0.2.1 dst 192.0.2.2 proto esp spi 0x5c1 \
    mode transport aead 'rfc4106(gcm(aes))' "$key" 128 >/dev/null 2>&1; then
    d exec "$MANAGER" ip xfrm state flush
    log "the nodes' kernel has ESP: the contexts' overlay is encrypted"
  else
    log "the nodes' kernel has no ESP (IPsec): the contexts' overlay is NOT encrypted here"
    sed -i '/^    driver_opts:$/{N;/encrypted/d}' "$work/stack.yml"
    ! grep -q "encrypted:" "$work/stack.yml" || die "could not take the encryption out of stack.yml"
  fi
  local manager_ip api_key mcp_key
  manager_ip=$(ip_of "$MANAGER")
  api_key=${SANDBOX_API_KEY:-$(od -An -N24 -tx1 /dev/urandom | tr -d ' \n')}
  mcp_key=${MCP_API_KEY:-$(od -An -N24 -tx1 /dev/urandom | tr -d ' \n')}
  # The caller's settings for the stack, then what this cluster fixes.
  local settings=()
  while IFS= read -r pair; do settings+=("$pair"); done < <(env | grep -E '^(SANDBOX|MCP)_[A-Z_]+=|^LOG_LEVEL=' || true)
  settings+=(
    SCI_SANDBOX_IMAGE="$(registry_name "$SANDBOX_IMAGE")"
    SCI_MCP_IMAGE="$(registry_name "$MCP_IMAGE")"
    DOCKER_GID="$(d exec "$MANAGER" stat -c %g /var/run/docker.sock)"
    SANDBOX_DOCKER_SCOPE="$SCOPE"
    SANDBOX_ALLOWED_HOSTS="sandbox-code-interpreter,$manager_ip"
    SANDBOX_API_KEY="$api_key"
    MCP_API_KEY="$mcp_key"
  )
  local args=()
  for pair in "${settings[@]}"; do args+=(-e "$pair"); done
  d exec -i "${args[@]}" "$MANAGER" docker stack deploy -c - "$STACK" <"$work/stack.yml" |
    sed 's/^/swarm-cluster: stack: /' >&2
  local tries
  for tries in $(seq 1 360); do
    answers_health "$manager_ip" && break
    sleep 0.5
  done
  ((tries < 360)) || die "the deployed sandbox does not answer http://$manager_ip:8080/health after 180 s"
  log "stack $STACK healthy $((SECONDS - t0)) s after the deploy"
  echo "SCI_SWARM_URL=http://$manager_ip:8080"
  echo "SCI_SWARM_SCOPE=$SCOPE"
  echo "SANDBOX_API_KEY=$api_key"
  echo "MCP_API_KEY=$mcp_key"
}

# GET /health of the sandbox on port 8080, with bash's /dev/tcp (curl may not be installed).
answers_health() (
  exec 3<>"/dev/tcp/$1/8080" &&
    printf 'GET /health HTTP/1.0\r\nHost: %s\r\n\r\n' "$1" >&3 &&
    read -r -t 3 status <&3 && [[ $status == *' 200 '* ]]
) 2>/dev/null

status() {
  on "$MANAGER" node ls
  on "$MANAGER" service ls
  log "disk: $(disk_use)"
}

case ${1:-} in
  up) up ;;
  deploy) deploy ;;
  push) push_images ;;
  down) down ;;
  env) env_lines ;;
  status) status ;;
  *) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//' >&2 && exit 2 ;;
esac
