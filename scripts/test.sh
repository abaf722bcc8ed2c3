#!/usr/bin/env bash
# Sets up .venv if needed, then runs the whole test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
.venv/bin/python -m pytest -q "$@"
# The web extension's pure logic, with Node's built-in test runner.
if command -v node >/dev/null 2>&1; then
  node --test tests/web/
else
  echo "node not found: skipping the web extension tests (tests/web)" >&2
fi
