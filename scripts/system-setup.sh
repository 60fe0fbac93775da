#!/usr/bin/env bash
# Install the Debian packages listed in scripts/system-packages.txt that are not installed yet, and run the
# per-topic setup scripts in scripts/setup.d/ (each idempotent). Services are never started here:
# the tests start their own on loopback and stop them.
set -euo pipefail
cd "$(dirname "$0")/.."
mapfile -t wanted < <(grep -vE '^\s*(#|$)' scripts/system-packages.txt)
missing=()
for pkg in "${wanted[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if [ "${#missing[@]}" -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "system-setup: missing Debian packages: ${missing[*]} (run as root or install them)" >&2
    exit 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
shopt -s nullglob
for step in scripts/setup.d/*.sh; do
  bash "$step"
done
