#!/usr/bin/env bash
# Installs everything the service and its tests need on Debian/Ubuntu. Safe to run twice.
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PACKAGES=(jupyter-server python3-ipykernel python3-jupyter-client python3-numpy python3-pandas python3-matplotlib)

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
