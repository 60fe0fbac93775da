#!/usr/bin/env bash
# The MCP conformance suite for tests/remote/test_conformance.py: Node 22 (the suite needs fs.globSync;
# Debian/NodeSource give 18/20) from the npm package `node@22`, and the suite at the released version
# and at the pre-release, all under .cache/ in the repository (git-ignored). Idempotent.
set -euo pipefail
cd "$(dirname "$0")/../.."
if ! command -v npm >/dev/null 2>&1; then
  # any npm will do: it only fetches the `node@22` package (Node 22 itself) and the suites
  if [ "$(id -u)" -ne 0 ]; then
    echo "conformance setup: npm is missing (run as root or install nodejs and npm)" >&2
    exit 1
  fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends nodejs npm >/dev/null
fi
install() {  # install <dir> <package@version> <check-file>
  if [ ! -e "$1/$3" ]; then
    mkdir -p "$1"
    npm install --silent --no-audit --no-fund --prefix "$1" "$2" >/dev/null
  fi
}
install .cache/node22 node@22 node_modules/node/bin/node
install .cache/conformance-0.1.16 @modelcontextprotocol/conformance@0.1.16 node_modules/.bin/conformance
install .cache/conformance-0.2.0-alpha.12 @modelcontextprotocol/conformance@0.2.0-alpha.12 node_modules/.bin/conformance
.cache/node22/node_modules/node/bin/node --version >/dev/null
