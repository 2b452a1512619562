#!/bin/sh
# Prints the Debian packages of one kernel profile (slim or full), one per line, from
# scripts/debian-packages.txt. Used by Dockerfile.sandbox and scripts/setup.sh. POSIX sh: the
# image runs it before bash matters.
#   sh scripts/debian-packages.sh full
set -eu
profile=${1:-full}
case $profile in
  slim | full) ;;
  *)
    echo "debian-packages: unknown profile '$profile' (SANDBOX_PROFILE): slim or full" >&2
    exit 2
    ;;
esac
awk -v profile="$profile" '
  { sub(/#.*/, "") }
  NF > 1 && ("," $2 ",") ~ ("," profile ",") { print $1 }
' "$(dirname "$0")/debian-packages.txt"
