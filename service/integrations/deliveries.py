"""Outgoing webhook deliveries for admins: list them with their attempts, resend one, re-queue stalled ones.

Functions (for the dashboard and the CLI)::

    list_deliveries(session, site_id=None, state=None, limit=50, before_id=None) -> list[dict]
    get_delivery(session, delivery_id, site_id=None) -> dict | None
    resend(session, redis, delivery_id, site_id=None) -> dict | None      # queues a fresh series of attempts
    requeue_pending(session, redis, older_than_s=600) -> int             # rows whose job was never queued

JSON API (a site's API key as ``Authorization: Bearer``, scoped to that site, or a logged-in admin, all sites)::

    GET  /api/v1/webhook-deliveries?state=failed&limit=50&before=<id>
    GET  /api/v1/webhook-deliveries/<id>
    POST /api/v1/webhook-deliveries/<id>/resend                          # 202
"""
from __future__ import annotations

from datetime import timedelta
from typing import Any

from flask import Blueprint, Flask, jsonify, request
from sqlalchemy import select
from sqlalchemy.orm import Session

from service.context import db_session, vigie
from service.errors import ApiError
from service.keys import site_for_key
from service.storage.models import DeliveryAttempt, WebhookDelivery, utcnow

bp = Blueprint("webhook_deliveries", __name__)
STATES = ("pending", "delivered", "failed")


def _attempt_dict(a: DeliveryAttempt) -> dict[str, Any]:
    return {"attempted_at": a.attempted_at.isoformat() if a.attempted_at else None, "status_code": a.status_code,
            "error": a.error, "duration_ms": round(a.duration_ms or 0.0, 1)}


def _delivery_dict(d: WebhookDelivery, attempts: list[DeliveryAttempt]) -> dict[str, Any]:
    iso = lambda v: v.isoformat() if v is not None else None  # noqa: E731
    return {"id": d.id, "site_id": d.site_id, "comment_id": d.comment_id, "event": d.event, "url": d.url,
            "state": d.state, "attempts": d.attempts, "created_at": iso(d.created_at),
            "next_attempt_at": iso(d.next_attempt_at), "delivered_at": iso(d.delivered_at),
            "payload": d.payload, "attempt_log": [_attempt_dict(a) for a in attempts]}


def _attempts(session: Session, ids: list[int]) -> dict[int, list[DeliveryAttempt]]:
    out: dict[int, list[DeliveryAttempt]] = {i: [] for i in ids}
    if ids:
        rows = session.scalars(select(DeliveryAttempt).where(DeliveryAttempt.delivery_id.in_(ids))
                               .order_by(DeliveryAttempt.id))
        for row in rows:
            out[row.delivery_id].append(row)
    return out


def list_deliveries(session: Session, site_id: int | None = None, state: str | None = None, limit: int = 50,
                    before_id: int | None = None) -> list[dict[str, Any]]:
    """Newest first, with each delivery's attempts."""
    stmt = select(WebhookDelivery).order_by(WebhookDelivery.id.desc()).limit(max(1, min(limit, 500)))
    if site_id is not None:
        stmt = stmt.where(WebhookDelivery.site_id == site_id)
    if state:
        stmt = stmt.where(WebhookDelivery.state == state)
    if before_id:
        stmt = stmt.where(WebhookDelivery.id < before_id)
    rows = list(session.scalars(stmt))
    attempts = _attempts(session, [d.id for d in rows])
    return [_delivery_dict(d, attempts[d.id]) for d in rows]


def _get(session: Session, delivery_id: int, site_id: int | None) -> WebhookDelivery | None:
    delivery = session.get(WebhookDelivery, delivery_id)
    if delivery is None or (site_id is not None and delivery.site_id != site_id):
        return None
    return delivery


def get_delivery(session: Session, delivery_id: int, site_id: int | None = None) -> dict[str, Any] | None:
    delivery = _get(session, delivery_id, site_id)
    return None if delivery is None else _delivery_dict(delivery, _attempts(session, [delivery.id])[delivery.id])


def resend(session: Session, redis, delivery_id: int, site_id: int | None = None) -> dict[str, Any] | None:
    """Queue a fresh series of attempts (with the full retry schedule) for a delivery in any state. Commits."""
    from workers.delivery import enqueue

    delivery = _get(session, delivery_id, site_id)
    if delivery is None:
        return None
    delivery.state, delivery.next_attempt_at = "pending", utcnow()
    session.commit()
    enqueue(redis, delivery.id)
    return get_delivery(session, delivery.id)


def requeue_pending(session: Session, redis, older_than_s: int = 600) -> int:
    """Queue pending deliveries that were never attempted (Redis was down when their decision committed)."""
    from workers.delivery import enqueue

    cutoff = utcnow() - timedelta(seconds=older_than_s)
    ids = list(session.scalars(select(WebhookDelivery.id).where(
        WebhookDelivery.state == "pending", WebhookDelivery.attempts == 0, WebhookDelivery.created_at <= cutoff)))
    for delivery_id in ids:
        enqueue(redis, delivery_id)
    return len(ids)


# ------------------------------------------------------------------------------------------------- JSON API
def _scope() -> int | None:
    """The site id a request may see (None: all sites, for an admin), or 401/403."""
    header = request.headers.get("Authorization", "")
    if header.startswith("Bearer "):
        site = site_for_key(db_session(), header[len("Bearer "):].strip())
        if site is None:
            raise ApiError(401, "invalid_api_key", "API key not valid")
        return site.id
    try:
        from flask_login import current_user

        if current_user.is_authenticated and getattr(current_user, "is_admin", False):
            return None
    except Exception:  # the login manager is not installed in this app
        pass
    raise ApiError(401, "unauthorized", "send a site API key (Authorization: Bearer ...) or log in as an admin")


@bp.get("/api/v1/webhook-deliveries")
def api_list():
    site_id = _scope()
    state = request.args.get("state") or None
    if state is not None and state not in STATES:
        raise ApiError(400, "invalid_request", f"state: one of {', '.join(STATES)}")
    try:
        limit = int(request.args.get("limit", 50))
        before = int(request.args["before"]) if request.args.get("before") else None
    except ValueError:
        raise ApiError(400, "invalid_request", "limit, before: integers expected") from None
    return jsonify({"deliveries": list_deliveries(db_session(), site_id, state, limit, before)})


@bp.get("/api/v1/webhook-deliveries/<int:delivery_id>")
def api_get(delivery_id: int):
    found = get_delivery(db_session(), delivery_id, _scope())
    if found is None:
        raise ApiError(404, "not_found", f"no delivery {delivery_id}")
    return jsonify(found)


@bp.post("/api/v1/webhook-deliveries/<int:delivery_id>/resend")
def api_resend(delivery_id: int):
    found = resend(db_session(), vigie().redis, delivery_id, _scope())
    if found is None:
        raise ApiError(404, "not_found", f"no delivery {delivery_id}")
    return jsonify(found), 202


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)
