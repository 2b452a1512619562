#!/usr/bin/env bash
# Prints the README's table of the Python kernels' libraries (README, "Libraries") as Markdown:
# every package of scripts/debian-packages.txt with its module and the upstream version installed
# in each profile's image, as the image's own dpkg reports it ("—": not in that profile).
#   scripts/library-table.sh [full-image] [slim-image]
# Defaults: sandbox-code-interpreter/sandbox:latest (the stack's build, full) and :slim (built by
# scripts/test-docker.sh). DOCKER picks the client.
set -euo pipefail
cd "$(dirname "$0")/.."
DOCKER=${DOCKER:-docker}
FULL=${1:-sandbox-code-interpreter/sandbox:latest}
SLIM=${2:-sandbox-code-interpreter/sandbox:slim}

mapfile -t rows < <(awk '{ sub(/#.*/, "") } NF == 3 { print $1, $2, $3 }' scripts/debian-packages.txt)
packages=(python3)
for row in "${rows[@]}"; do packages+=("${row%% *}"); done

# "package version" lines of what an image has installed; dpkg-query exits 1 when some are missing.
installed() {
  "$DOCKER" run --rm --network none --entrypoint dpkg-query "$1" \
    -W -f '${db:Status-Abbrev} ${Package} ${Version}\n' "${packages[@]}" 2>/dev/null |
    awk '$1 == "ii" { print $2, $3 }' || true
}
full=$(installed "$FULL")
slim=$(installed "$SLIM")
[[ -n $full && -n $slim ]] || {
  echo "library-table: cannot read $FULL or $SLIM (build them first)" >&2
  exit 1
}

# Upstream version: no epoch, no Debian revision, no +dfsg/+ds repack suffix.
version() {
  awk -v p="$1" '$1 == p { v = $2; sub(/^[0-9]+:/, "", v); sub(/-[^-]*$/, "", v); sub(/[+~](dfsg|ds|really).*/, "", v); print v }'
}
echo "| Debian package | Python module | full | slim |"
echo "| --- | --- | --- | --- |"
echo "| python3 | (Python) | $(version python3 <<<"$full") | $(version python3 <<<"$slim") |"
for row in "${rows[@]}"; do
  read -r package _ module <<<"$row"
  f=$(version "$package" <<<"$full")
  s=$(version "$package" <<<"$slim")
  echo "| $package | \`$module\` | ${f:-—} | ${s:-—} |"
done
