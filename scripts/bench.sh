#!/usr/bin/env bash
# Set up (venv + install with the bench extra, first time only) and run the benchmark suite:
# prints the table, writes bench/results/*.json and bench.png, compares with the previous run.
# Arguments go to bench/run.py, e.g. --quick or --only startup,overhead.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
  .venv/bin/pip install --quiet --upgrade pip
fi
if ! .venv/bin/python -c "import dversum_mcp, matplotlib, tiktoken" 2>/dev/null; then
  .venv/bin/pip install --quiet -e ".[bench]"
fi
exec .venv/bin/python bench/run.py "$@"
