#!/usr/bin/env bash
# Creates .venv with everything the demo and the tests need. Idempotent.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
stamp=.venv/.runcomfy-setup
want="$(cat requirements.txt scripts/setup.sh | sha256sum | cut -c1-16)"
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  # Exactly this torch: it is the CPU build; anything else pulls gigabytes of CUDA packages.
  .venv/bin/pip install -q torch==2.13.0
  .venv/bin/pip install -q -r requirements.txt "pytest>=7" "proxy.py>=2.4"   # proxy.py: a real CONNECT proxy for tests/test_proxy.py
  .venv/bin/pip install -q "aiohttp>=3.9"   # ComfyUI's server library: the pack's routes on a real server (tests/test_post_bodies.py)
  echo "$want" > "$stamp"
fi
