# Vigie: one image for the web process (gunicorn), the scoring workers and the webhook worker.
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_DISABLE_PIP_VERSION_CHECK=1 \
    VIGIE_DATA_DIR=/var/lib/vigie VIGIE_MODEL_CACHE=/var/lib/vigie/models VIGIE_HOST=0.0.0.0 VIGIE_PORT=8000 \
    VIGIE_LEXICONS_DIR=/app/data/lexicons

RUN useradd --system --create-home --home-dir /home/vigie vigie \
    && mkdir -p /var/lib/vigie/models && chown -R vigie:vigie /var/lib/vigie  # volumes mounted here inherit it

WORKDIR /app
# torch==2.13.0 comes from PyPI like everything else (no other package index is used).
COPY pyproject.toml README.md ./
COPY core ./core
COPY service ./service
COPY workers ./workers
COPY data/lexicons ./data/lexicons
RUN pip install --no-cache-dir .

USER vigie
EXPOSE 8000
HEALTHCHECK --interval=15s --timeout=3s --start-period=20s CMD \
    python -c "import urllib.request,sys; urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=2)" || exit 1
CMD ["vigie", "web"]
