"""Outgoing webhook events: the signed JSON a site's callback URL receives when one of its comments is decided.

Event ``comment.decided``::

    {"event": "comment.decided", "delivery_id": 7, "site": "lemonde", "created_at": "2026-11-27T14:00:00+00:00",
     "comment": {"id": 42, "external_id": "c-123", "thread_id": "story-9", "status": "flagged",
                 "previous_status": "pending", "decided_by": "model", "decided_at": "...", "score": 0.93,
                 "scores": {"toxicity": 0.93, ...}, "reasons": [...]}}

Headers: ``Content-Type: application/json``, ``X-Vigie-Event``, ``X-Vigie-Delivery`` (the delivery id, the same on
every retry) and ``X-Vigie-Signature: t=<unix time>,v1=<hex>`` keyed with the site's first signing secret, signed
afresh for each attempt. The comment text is never sent back.
"""
from __future__ import annotations

import json
from typing import Any

from service.integrations import signing

EVENT_DECIDED = "comment.decided"
USER_AGENT = "Vigie-Webhooks/1.0"


def _iso(value) -> str | None:
    return value.isoformat() if value is not None else None


def decided_event(site, comment, audit_entry, scores: dict[str, float] | None) -> dict[str, Any]:
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


def signed_headers(secret: str, body: bytes, event: str, delivery_id: int, timestamp: int | None = None) -> dict:
    return {"Content-Type": "application/json", "User-Agent": USER_AGENT, "X-Vigie-Event": event,
            "X-Vigie-Delivery": str(delivery_id), signing.VIGIE_HEADER: signing.sign(secret, body, timestamp)}
