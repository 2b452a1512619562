#!/bin/sh
# Entry of a test cluster machine: `dockerd` (a Swarm node; the default) or `registry`.
# Environment: SCI_REGISTRY, the registry the node's engine pulls from over plain HTTP (host:port);
#   SCI_DOCKERD_TCP=1: the engine also listens on TCP port 2375 of the cluster network, without TLS
#   (the tests reach the manager's API there; only the host and the other nodes can).
set -eu

case "${1:-dockerd}" in
  dockerd)
    # Started with every capability the engine grants but without --privileged (scripts/
    # swarm-cluster.sh says why), the node gets /sys and its cgroup mounts read-only: dockerd needs to
    # write both. Its own cgroup namespace confines what it writes to this node's cgroups.
    mount -o remount,rw /sys
    for dir in /sys/fs/cgroup /sys/fs/cgroup/*; do
      if grep -q " $dir ro," /proc/self/mountinfo; then mount -o remount,bind,rw "$dir"; fi
    done
    # What moby's hack/dind does: securityfs for AppArmor checks, and on cgroup v2 this process moved
    # out of the root cgroup so that dockerd may enable the controllers for its containers there.
    if [ -d /sys/kernel/security ] && ! mountpoint -q /sys/kernel/security; then
      mount -t securityfs none /sys/kernel/security || true
    fi
    if [ -f /sys/fs/cgroup/cgroup.controllers ]; then
      mkdir -p /sys/fs/cgroup/init
      xargs -rn1 </sys/fs/cgroup/cgroup.procs >/sys/fs/cgroup/init/cgroup.procs 2>/dev/null || true
      sed -e 's/ / +/g' -e 's/^/+/' </sys/fs/cgroup/cgroup.controllers \
        >/sys/fs/cgroup/cgroup.subtree_control
    fi
    # What a killed node left behind: a restarted node starts afresh and rejoins its Swarm.
    rm -f /var/run/docker.pid /var/run/docker/containerd/containerd.pid
    # no-new-privileges for every container: a service spec cannot ask for it before API 1.44.
    set -- --host=unix:///var/run/docker.sock
    if [ "${SCI_DOCKERD_TCP:-}" = 1 ]; then
      set -- "$@" --host="tcp://$(hostname -i | cut -d' ' -f1):2375"
    fi
    exec dockerd "$@" --storage-driver=overlay2 \
      --insecure-registry="${SCI_REGISTRY:-sci-registry:5000}" --no-new-privileges --log-level=warn
    ;;
  registry)
    mkdir -p /var/lib/docker/registry
    cat >/etc/docker/registry/config.yml <<'YAML'
version: 0.1
log: { level: warn, accesslog: { disabled: true } }
storage:
  filesystem: { rootdirectory: /var/lib/docker/registry }
  delete: { enabled: true }
http: { addr: ":5000" }
YAML
    exec docker-registry serve /etc/docker/registry/config.yml
    ;;
  *) exec "$@" ;;
esac
