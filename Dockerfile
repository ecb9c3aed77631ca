# syntax=docker/dockerfile:1
# Agora: build with `docker build -t agora .` (see docs/operations.md).
#
# Build arguments:
#   TORCH_VARIANT   cpu (default), or a CUDA build of torch: cu124, cu126, cu128... (the name of an
#                   index under https://download.pytorch.org/whl/ that has TORCH_VERSION)
#   TORCH_VERSION   2.13.0, the version Agora is tested with
#   EXTRAS          Agora's optional parts: discord, matrix, and cpu (llama.cpp, the fast CPU backend)
#   LLAMA_CMAKE_ARGS  how llama.cpp is compiled; the default is portable (no -march=native: AVX2-era
#                   x86-64), since the image may run on another CPU than the one that built it
#   EMBED_MODEL     1 to bake the embedded model (1.1 GB) into the image's /data/models; 0 (default)
#                   installs it into the volume on first use instead
ARG PYTHON_IMAGE=python:3.11-slim-bookworm

# --- builder: compilers, torch, llama.cpp compiled once, Agora in a virtual environment ---------------
FROM ${PYTHON_IMAGE} AS builder
ARG TORCH_VARIANT=cpu
ARG TORCH_VERSION=2.13.0
ARG EXTRAS=discord,matrix,cpu
ARG LLAMA_CMAKE_ARGS="-DGGML_NATIVE=OFF -DLLAVA_BUILD=OFF"
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1
RUN apt-get update \
    && apt-get install -y --no-install-recommends build-essential cmake \
    && rm -rf /var/lib/apt/lists/*
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
# torch first and pinned, from the PyTorch index of the chosen variant: a bare `torch` requirement
# from PyPI would pull several GB of CUDA packages even for a CPU image. Its own layer, so a change
# to Agora's code does not download it again.
RUN pip install "torch==${TORCH_VERSION}" --index-url "https://download.pytorch.org/whl/${TORCH_VARIANT}"
WORKDIR /app
COPY pyproject.toml README.md ./
COPY bot ./bot
COPY prompts ./prompts
# Editable on purpose: Agora finds prompts/fr next to its package (bot/pipeline/prompts.py), and
# /app is copied as is into the final image, at the same path.
RUN CMAKE_ARGS="${LLAMA_CMAKE_ARGS}" pip install -e ".[${EXTRAS}]" \
    && python -m compileall -q /app/bot

# --- runtime: no compilers, a non-root user, data in volumes -------------------------------------------
FROM ${PYTHON_IMAGE} AS runtime
ARG EMBED_MODEL=0
# libgomp: OpenMP for llama.cpp's CPU threads (torch ships its own copy).
RUN apt-get update \
    && apt-get install -y --no-install-recommends libgomp1 \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --system --gid 10001 agora \
    && useradd --system --uid 10001 --gid agora --home-dir /home/agora --create-home \
        --shell /usr/sbin/nologin agora
COPY --from=builder /opt/venv /opt/venv
COPY --from=builder /app /app
COPY docker/config.toml /etc/agora/config.toml
ENV PATH=/opt/venv/bin:$PATH \
    AGORA_CONFIG=/etc/agora/config.toml \
    HF_HOME=/data/huggingface \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1
# Created and owned here, before VOLUME: a new volume starts as a copy of this (model included when
# EMBED_MODEL=1), writable by the agora user.
RUN mkdir -p /data/models && chown -R agora:agora /data
USER agora
WORKDIR /home/agora
RUN if [ "${EMBED_MODEL}" = "1" ]; then agora model install; fi
VOLUME ["/data", "/data/models"]
EXPOSE 9464
# `agora status --check` asks /healthz (AGORA_CONFIG's [ops] port) and exits 0 only on HTTP 200.
# The start period covers loading the model and the platforms' first connection.
HEALTHCHECK --interval=30s --timeout=10s --start-period=180s --retries=3 CMD ["agora", "status", "--check"]
CMD ["agora", "run"]
