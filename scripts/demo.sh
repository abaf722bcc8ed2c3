#!/usr/bin/env bash
# Sets up .venv if needed, then runs the demo (local emulator; pass --live for the real service).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/python -m runcomfy demo "$@"
