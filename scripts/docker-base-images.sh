#!/usr/bin/env bash
# Makes the base images that Dockerfile.sandbox and Dockerfile.mcp start from without an image
# registry, under the same names a user with internet pulls:
#   debian:bookworm-slim      debootstrap (minbase) from Debian's package mirror + `docker import`
#   node:20-bookworm-slim     that image + this host's Node.js and npm
# An image that already exists (pulled or made before) is left alone, so running this twice is
# cheap. The debootstrapped root filesystem is cached as a tarball, so remaking the images after a
# `docker image prune` takes seconds.
#
# Usage: scripts/docker-base-images.sh [--force] [--refresh]
#   --force    remake both images even if they exist
#   --refresh  debootstrap again instead of using the cached tarball (newer packages)
# Environment:
#   DOCKER                  docker client (default: docker)
#   DEBIAN_IMAGE, NODE_IMAGE    names to make (defaults: the Dockerfiles' ARG defaults)
#   DEBIAN_MIRROR           default http://deb.debian.org/debian
#   DEBIAN_SECURITY_MIRROR  default http://deb.debian.org/debian-security
#   SCI_CACHE_DIR           default /var/cache/sandbox-code-interpreter
#   NODE                    the Node.js binary to copy (default: the first node on PATH, >= 20.3)
set -euo pipefail

DOCKER=${DOCKER:-docker}
DEBIAN_IMAGE=${DEBIAN_IMAGE:-debian:bookworm-slim}
NODE_IMAGE=${NODE_IMAGE:-node:20-bookworm-slim}
SUITE=bookworm
DEBIAN_MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
DEBIAN_SECURITY_MIRROR=${DEBIAN_SECURITY_MIRROR:-http://deb.debian.org/debian-security}
CACHE_DIR=${SCI_CACHE_DIR:-/var/cache/sandbox-code-interpreter}
FORCE=0
REFRESH=0
for arg in "$@"; do
  case $arg in
    --force) FORCE=1 ;;
    --refresh) REFRESH=1 FORCE=1 ;;
    -h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//' && exit 0 ;;
    *) echo "docker-base-images: unknown argument $arg" >&2 && exit 2 ;;
  esac
done

log() { echo "docker-base-images: $*" >&2; }
die() { log "error: $*" && exit 1; }
image_exists() { "$DOCKER" image inspect "$1" >/dev/null 2>&1; }

ARCH=$(dpkg --print-architecture 2>/dev/null || echo amd64)
TARBALL="$CACHE_DIR/debian-$SUITE-minbase-$ARCH.tar"

# Debootstraps a minimal Debian into a tarball, configured like the official slim image: apt
# sources for the suite, its updates and security; no docs, man pages or locales; no apt lists.
make_rootfs_tarball() {
  command -v debootstrap >/dev/null || die "debootstrap is not installed (apt-get install debootstrap)"
  [[ $(id -u) -eq 0 ]] || die "debootstrap needs root"
  mkdir -p "$CACHE_DIR"
  local rootfs
  rootfs=$(mktemp -d "$CACHE_DIR/rootfs.XXXXXX")
  # shellcheck disable=SC2064 # expand now: the trap must remove this run's directory
  trap "rm -rf '$rootfs' '$TARBALL.partial'" EXIT
  log "debootstrap $SUITE ($ARCH) from $DEBIAN_MIRROR (a minute or two)"
  if ! debootstrap --variant=minbase --arch="$ARCH" "$SUITE" "$rootfs" "$DEBIAN_MIRROR" \
    >"$CACHE_DIR/debootstrap.log" 2>&1; then
    tail -n 30 "$CACHE_DIR/debootstrap.log" >&2
    die "debootstrap failed; full log: $CACHE_DIR/debootstrap.log"
  fi

  rm -f "$rootfs/etc/apt/sources.list"
  cat >"$rootfs/etc/apt/sources.list.d/debian.sources" <<EOF
Types: deb
URIs: $DEBIAN_MIRROR
Suites: $SUITE $SUITE-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: $DEBIAN_SECURITY_MIRROR
Suites: $SUITE-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF
  cat >"$rootfs/etc/dpkg/dpkg.cfg.d/docker-slim" <<'EOF'
# Like the official slim images: packages installed later bring no docs, man pages or locales.
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/groff/*
path-exclude /usr/share/info/*
path-exclude /usr/share/lintian/*
path-exclude /usr/share/linda/*
path-exclude /usr/share/locale/*
path-include /usr/share/locale/locale.alias
EOF
  cat >"$rootfs/etc/apt/apt.conf.d/docker-clean" <<'EOF'
DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
APT::Update::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
Dir::Cache::pkgcache "";
Dir::Cache::srcpkgcache "";
EOF
  echo 'Acquire::Languages "none";' >"$rootfs/etc/apt/apt.conf.d/docker-no-languages"
  echo 'Apt::AutoRemove::SuggestsImportant "false";' >"$rootfs/etc/apt/apt.conf.d/docker-autoremove-suggests"
  # What debootstrap installed before the excludes existed.
  find "$rootfs/usr/share/doc" -mindepth 1 -not -name copyright -not -type d -delete
  find "$rootfs/usr/share/doc" -mindepth 1 -type d -empty -delete
  find "$rootfs/usr/share/locale" -mindepth 1 -maxdepth 1 -not -name locale.alias -exec rm -rf {} +
  rm -rf "$rootfs"/usr/share/{man,groff,info,lintian,linda}/* "$rootfs"/var/lib/apt/lists/* \
    "$rootfs"/var/cache/apt/*.bin "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/log/*.log \
    "$rootfs"/var/log/apt/* "$rootfs"/tmp/* "$rootfs"/etc/hostname "$rootfs"/etc/resolv.conf
  : >"$rootfs/etc/machine-id"

  tar --numeric-owner -C "$rootfs" -cf "$TARBALL.partial" .
  mv "$TARBALL.partial" "$TARBALL"
  rm -rf "$rootfs"
  trap - EXIT
  log "cached $(du -h "$TARBALL" | cut -f1) root filesystem in $TARBALL"
}

make_debian_image() {
  if ((REFRESH)) || [[ ! -s $TARBALL ]]; then
    make_rootfs_tarball
  else
    log "using the cached root filesystem $TARBALL"
  fi
  "$DOCKER" import \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'CMD ["bash"]' \
    --message "debootstrap --variant=minbase $SUITE, made offline by scripts/docker-base-images.sh" \
    "$TARBALL" "$DEBIAN_IMAGE" >/dev/null
  log "made $DEBIAN_IMAGE"
}

# The Node.js image: the Debian image plus this host's node binary and npm, laid out like the
# official image (/usr/local/bin/node, user `node` 1000:1000). The host's CA bundle comes along so
# that npm inside builds trusts what npm on this host trusts (e.g. a proxy's CA).
make_node_image() {
  local node npm_root version major ctx
  node=$(readlink -f "${NODE:-$(command -v node || true)}")
  [[ -x $node ]] || die "no node binary on this host to copy (install Node.js >= 20.3)"
  version=$("$node" -p 'process.versions.node')
  major=${version%%.*}
  "$node" -e 'const [a, b] = process.versions.node.split(".").map(Number); process.exit(a > 20 || (a === 20 && b >= 3) ? 0 : 1)' ||
    die "host Node.js $version is too old: the sandbox needs >= 20.3"
  [[ $NODE_IMAGE == *":$major-"* ]] ||
    log "warning: host Node.js is $version but the image is named $NODE_IMAGE"
  npm_root=$("$node" -p 'require("path").resolve(process.argv[1], "../..")' \
    "$(readlink -f "$(command -v npm)")")
  [[ -f $npm_root/package.json ]] || die "npm not found next to $node"

  ctx=$(mktemp -d)
  # shellcheck disable=SC2064
  trap "rm -rf '$ctx'" EXIT
  cp "$node" "$ctx/node"
  cp -a "$npm_root" "$ctx/npm"
  if [[ -f /etc/ssl/certs/ca-certificates.crt ]]; then
    cp /etc/ssl/certs/ca-certificates.crt "$ctx/ca-certificates.crt"
  else
    : >"$ctx/ca-certificates.crt"
  fi
  cat >"$ctx/Dockerfile" <<'EOF'
ARG BASE
FROM ${BASE}
ARG NODE_VERSION
COPY node /usr/local/bin/node
COPY npm /usr/local/lib/node_modules/npm
COPY ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
RUN chown -R root:root /usr/local/lib/node_modules \
  && ln -s ../lib/node_modules/npm/bin/npm-cli.js /usr/local/bin/npm \
  && ln -s ../lib/node_modules/npm/bin/npx-cli.js /usr/local/bin/npx \
  && groupadd --gid 1000 node \
  && useradd --uid 1000 --gid node --shell /bin/bash --create-home node \
  && node --version && npm --version >/dev/null
ENV NODE_VERSION=${NODE_VERSION} NODE_EXTRA_CA_CERTS=/etc/ssl/certs/ca-certificates.crt
CMD ["node"]
EOF
  "$DOCKER" build --quiet --build-arg "BASE=$DEBIAN_IMAGE" --build-arg "NODE_VERSION=$version" \
    --label "org.opencontainers.image.description=Node.js $version from the host on $DEBIAN_IMAGE, made offline by scripts/docker-base-images.sh" \
    -t "$NODE_IMAGE" "$ctx" >/dev/null
  rm -rf "$ctx"
  trap - EXIT
  log "made $NODE_IMAGE (Node.js $version from $node)"
}

"$DOCKER" info >/dev/null 2>&1 || die "no Docker engine answers ($DOCKER info failed)"
if ((FORCE)) || ! image_exists "$DEBIAN_IMAGE"; then
  make_debian_image
else
  log "$DEBIAN_IMAGE exists; skipping (--force to remake)"
fi
if ((FORCE)) || ! image_exists "$NODE_IMAGE"; then
  make_node_image
else
  log "$NODE_IMAGE exists; skipping (--force to remake)"
fi
