"""``GET /metrics``: Prometheus's text format (core/metrics.py). With ``VIGIE_METRICS_TOKEN`` set it requires
``Authorization: Bearer <token>`` (401 otherwise); without it the endpoint is open, like /healthz: keep it on a
network only Prometheus reaches (docs/operations.md)."""
from __future__ import annotations

import hmac

from flask import Blueprint, Flask, Response

from core import metrics
from service.apikey import bearer_key
from service.context import vigie
from service.errors import ApiError

bp = Blueprint("metrics", __name__)


@bp.get("/metrics")
def scrape() -> Response:
    services = vigie()
    token = services.settings.metrics_token
    if token:
        given = bearer_key() or ""
        if not hmac.compare_digest(given.encode(), token.encode()):
            raise ApiError(401, "unauthorized", "/metrics needs 'Authorization: Bearer <VIGIE_METRICS_TOKEN>'.")
    body, content_type = metrics.exposition(services)
    return Response(body, content_type=content_type, headers={"Cache-Control": "no-store"})


def init_app(app: Flask) -> None:
    metrics.enable(vigie(app).settings)
    app.register_blueprint(bp)
