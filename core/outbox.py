"""The outbox of decided events: every stored decision (model, rule or moderator) of a site with a callback URL
becomes a ``WebhookDelivery`` row, written in the deciding transaction, and a job on the webhook queue, enqueued
only after that transaction commits (an ``after_commit`` listener on the session). A rolled-back decision sends
nothing and a worker never looks for a row that is not there yet. If Redis is unavailable at that moment the row
stays ``pending`` and ``requeue_pending`` (run by the workers' reconciler) queues it later.

Event ``comment.decided``::

    {"event": "comment.decided", "delivery_id": 7, "site": "lemonde", "created_at": "2026-11-27T14:00:00+00:00",
     "comment": {"id": 42, "external_id": "c-123", "thread_id": "story-9", "status": "flagged",
                 "previous_status": "pending", "decided_by": "model", "decided_at": "...", "score": 0.93,
                 "scores": {"toxicity": 0.93, ...}, "reasons": [...]}}

Headers: ``Content-Type: application/json``, ``X-Vigie-Event``, ``X-Vigie-Delivery`` (the delivery id, the same on
every retry) and ``X-Vigie-Signature: t=<unix time>,v1=<hex>`` keyed with the site's first signing secret, signed
afresh for each attempt (``signed_headers``). The comment text is never sent back.

Event ``author.action`` (``core.author_actions``, written by ``add_event``): a moderator banned, suspended,
pre-moderated, warned or noted an author, or lifted one of those; same headers, signature and retries.
"""
from __future__ import annotations

import json
import logging
from datetime import timedelta
from typing import Any, Sequence

from redis import Redis
from rq import Retry
from sqlalchemy import event, select
from sqlalchemy.orm import Session

from core import signing
from core.queues import (
    DELIVER_JOB,
    DELIVERY_QUEUED_PREFIX,
    FAILURE_TTL_S,
    WEBHOOK_QUEUE,
    WEBHOOK_RESULT_TTL_S,
    queue,
    webhook_job_timeout,
)
from core.storage.models import AuditEntry, Comment, ModelResult, Site, WebhookDelivery, utcnow

log = logging.getLogger(__name__)
EVENT_DECIDED = "comment.decided"
EVENT_AUTHOR = "author.action"  # a moderator's action on an author (core/author_actions.py)
USER_AGENT = "Vigie-Webhooks/1.0"
_PENDING = "vigie_pending_deliveries"
_LISTENING = "vigie_delivery_listeners"


# ------------------------------------------------------------------------------------------------- event
def _iso(value) -> str | None:
    return value.isoformat() if value is not None else None


def decided_event(site: Site, comment: Comment, audit_entry: AuditEntry,
                  scores: dict[str, float] | None) -> dict[str, Any]:
    """The event body (without ``delivery_id``, added once the delivery row has an id)."""
    return {
        "event": EVENT_DECIDED,
        "site": site.slug,
        "created_at": _iso(audit_entry.created_at) if audit_entry.created_at else _iso(comment.decided_at),
        "comment": {
            "id": comment.id,
            "external_id": comment.external_id,
            "thread_id": comment.thread_id,
            "status": comment.status,
            "previous_status": audit_entry.status_from,
            "decided_by": audit_entry.actor,
            "decided_at": _iso(comment.decided_at),
            "score": comment.score,
            "scores": scores,
            "reasons": audit_entry.reasons or [],
        },
    }


def encode(payload: dict[str, Any]) -> bytes:
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":"), default=str).encode("utf-8")


def signed_headers(secret: str, body: bytes, event_name: str, delivery_id: int,
                   timestamp: int | None = None) -> dict:
    return {"Content-Type": "application/json", "User-Agent": USER_AGENT, "X-Vigie-Event": event_name,
            "X-Vigie-Delivery": str(delivery_id), signing.VIGIE_HEADER: signing.sign(secret, body, timestamp)}


# ---------------------------------------------------------------------------------------------- enqueue
def enqueue(redis: Redis, delivery_id: int, retry_intervals: Sequence[int], timeout_s: float):
    """Queue one delivery with the given retry schedule (seconds between attempts) and HTTP timeout."""
    intervals = list(retry_intervals)
    retry = Retry(max=len(intervals), interval=intervals) if intervals else None
    job = queue(WEBHOOK_QUEUE, redis).enqueue(
        DELIVER_JOB, delivery_id, retry=retry, job_timeout=webhook_job_timeout(timeout_s),
        result_ttl=WEBHOOK_RESULT_TTL_S, failure_ttl=FAILURE_TTL_S, description=f"webhook delivery {delivery_id}")
    redis.set(f"{DELIVERY_QUEUED_PREFIX}{delivery_id}", "1", ex=FAILURE_TTL_S)  # see requeue_pending
    return job


def on_decided(session: Session, comment: Comment, audit_entry: AuditEntry, redis: Redis | None,
               retry_intervals: Sequence[int], timeout_s: float) -> None:
    """Called inside the deciding transaction, after the decision row is written: write the site's delivery row
    and enqueue its job once the transaction commits. Cheap, and never raises for a delivery problem. Without
    ``redis`` the row stays pending for ``requeue_pending``."""
    site = session.get(Site, comment.site_id)
    if site is None or not site.callback_url:
        return
    scores = session.scalar(select(ModelResult.scores).where(ModelResult.comment_id == comment.id))
    add_event(session, site, EVENT_DECIDED, decided_event(site, comment, audit_entry, scores), redis,
              retry_intervals, timeout_s, comment_id=comment.id)


def add_event(session: Session, site: Site, event_name: str, payload: dict[str, Any], redis: Redis | None,
              retry_intervals: Sequence[int], timeout_s: float, comment_id: int | None = None) -> int | None:
    """Put one event for the site's callback URL in the outbox (inside the caller's transaction; queued once it
    commits, or by the reconciler without ``redis``). The same signed delivery, retries and SSRF guard serve every
    event type. Returns the delivery id, or None when the site has no callback URL."""
    if not site.callback_url:
        return None
    delivery = WebhookDelivery(site_id=site.id, comment_id=comment_id, event=event_name,
                               url=site.callback_url, payload=payload, state="pending")
    session.add(delivery)
    session.flush()
    delivery.payload = {**payload, "delivery_id": delivery.id}
    if redis is not None:
        enqueue_after_commit(session, delivery.id, redis, retry_intervals, timeout_s)
    return delivery.id


def enqueue_after_commit(session: Session, delivery_id: int, redis: Redis, retry_intervals: Sequence[int],
                         timeout_s: float) -> None:
    session.info.setdefault(_PENDING, []).append((delivery_id, redis, tuple(retry_intervals), timeout_s))
    if session.info.get(_LISTENING):
        return
    session.info[_LISTENING] = True
    event.listen(session, "after_commit", _enqueue_pending)
    event.listen(session, "after_rollback", _forget_pending)


def _enqueue_pending(session: Session) -> None:
    for delivery_id, redis, retry_intervals, timeout_s in session.info.pop(_PENDING, []):
        try:
            enqueue(redis, delivery_id, retry_intervals, timeout_s)
        except Exception:  # Redis down: the row stays pending; the reconciler's requeue_pending sends it
            log.warning("could not enqueue webhook delivery %s", delivery_id, exc_info=True)


def _forget_pending(session: Session) -> None:
    session.info.pop(_PENDING, None)


def requeue_pending(session: Session, redis: Redis, retry_intervals: Sequence[int], timeout_s: float,
                    older_than_s: int = 60) -> int:
    """Queue the pending deliveries never attempted whose job was never queued (Redis was down when their decision
    committed, or lost its data since), once older than ``older_than_s`` (time for the normal after-commit
    enqueue). ``enqueue`` leaves a marker key per queued delivery, so a delivery waiting for a busy or stopped
    webhook worker is not queued twice. The workers' reconciler runs it periodically. Returns how many were
    queued."""
    cutoff = utcnow() - timedelta(seconds=older_than_s)
    ids = list(session.scalars(select(WebhookDelivery.id).where(
        WebhookDelivery.state == "pending", WebhookDelivery.attempts == 0, WebhookDelivery.created_at <= cutoff)
        .order_by(WebhookDelivery.id).limit(10_000)))
    if not ids:
        return 0
    pipe = redis.pipeline(transaction=False)
    for delivery_id in ids:
        pipe.exists(f"{DELIVERY_QUEUED_PREFIX}{delivery_id}")
    unqueued = [delivery_id for delivery_id, queued in zip(ids, pipe.execute()) if not queued]
    for delivery_id in unqueued:
        enqueue(redis, delivery_id, retry_intervals, timeout_s)
    return len(unqueued)
