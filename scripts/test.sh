#!/usr/bin/env bash
# Run every test: set up (idempotent), the fast suite, then the heavy model steps.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
export PYTHONUNBUFFERED=1
PYTEST=(.venv/bin/python -m pytest)

echo "== lint"
.venv/bin/ruff check bot tests bench

echo "== unit, pipeline and small-model end-to-end tests"
"${PYTEST[@]}" -m "not embedded and not synapse" -q

echo "== matrix (real Synapse)"
# Synapse runs from its own virtual environment in .synapse/ (installed once, pinned), on 127.0.0.1.
./scripts/synapse.sh install
trap './scripts/synapse.sh stop' EXIT
./scripts/synapse.sh start
"${PYTEST[@]}" -m synapse -q
./scripts/synapse.sh stop
trap - EXIT

echo "== end-to-end with the embedded default model"
"${PYTEST[@]}" -m embedded -q
