#!/usr/bin/env bash
# Installs everything the service and its tests need on Debian/Ubuntu. Safe to run twice.
set -euo pipefail
cd "$(dirname "$0")/.."

# The kernels' packages, from the list the sandbox image reads too (scripts/debian-packages.txt):
# profile full unless SANDBOX_PROFILE=slim. The tests expect full (test/sandbox/libraries.test.ts).
# Unlike the image, the host gets SciPy's real python3-pythran and its compiler.
mapfile -t APT_PACKAGES < <(sh scripts/debian-packages.sh "${SANDBOX_PROFILE:-full}")
((${#APT_PACKAGES[@]})) || exit 2

missing=()
for pkg in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if ((${#missing[@]})); then
  echo "setup: installing Debian packages: ${missing[*]}"
  SUDO=""
  [[ $(id -u) -ne 0 ]] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# tslab (the JavaScript and TypeScript kernels) comes from npm with the other dependencies; its
# kernelspecs are written by the service into its own private Jupyter dir at startup.
npm ci --no-audit --no-fund
npm run build
