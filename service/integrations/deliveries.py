"""Outgoing webhook deliveries for admins: list them with their attempts, resend one, re-queue stalled ones.

Functions (for the dashboard and the CLI)::

    list_deliveries(session, site_id=None, state=None, limit=50, before_id=None) -> list[dict]
    get_delivery(session, delivery_id, site_id=None) -> dict | None
    resend(session, services, delivery_id, site_id=None) -> dict | None   # queues a fresh series of attempts

The JSON API over them is in ``service.integrations.admin``. Deliveries whose job was never queued (Redis was down)
are queued by the workers' reconciler (``core.reconcile``), not by an admin.
"""
from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from core import outbox
from core.services import Services
from core.storage.models import DeliveryAttempt, WebhookDelivery, utcnow


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


def resend(session: Session, services: Services, delivery_id: int, site_id: int | None = None) -> dict[str, Any] | None:
    """Queue a fresh series of attempts (with the full retry schedule) for a delivery in any state. Commits."""
    delivery = _get(session, delivery_id, site_id)
    if delivery is None:
        return None
    delivery.state, delivery.next_attempt_at = "pending", utcnow()
    session.commit()
    settings = services.settings
    outbox.enqueue(services.redis, delivery.id, settings.webhook_retry_intervals, settings.webhook_timeout_s)
    return get_delivery(session, delivery.id)
