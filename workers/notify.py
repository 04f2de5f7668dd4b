"""Hook called after every stored decision (model, rule or moderator). The integrations layer turns it into a
signed webhook event to the site's callback URL, delivered by RQ on the webhook queue.

The delivery row is written in the deciding transaction; its job is enqueued only after that transaction commits
(a ``after_commit`` listener on the session), so a rolled-back decision sends nothing and a worker never looks for
a row that is not there yet. If Redis is unavailable at that moment the row stays ``pending`` and
``service.integrations.deliveries.requeue_pending`` (or an admin's resend) sends it later.
"""
from __future__ import annotations

import logging

from sqlalchemy import event, select

log = logging.getLogger(__name__)
_PENDING = "vigie_pending_deliveries"
_LISTENING = "vigie_delivery_listeners"


def on_decided(session, redis, comment, audit_entry) -> None:
    """Called inside the deciding transaction, after the decision row is written. Must be cheap and must not
    raise for a delivery problem (delivery happens later, on its own queue)."""
    from service.storage.models import ModelResult, Site, WebhookDelivery
    from service.integrations.webhooks_out import EVENT_DECIDED, decided_event

    site = session.get(Site, comment.site_id)
    if site is None or not site.callback_url:
        return
    scores = session.scalar(select(ModelResult.scores).where(ModelResult.comment_id == comment.id))
    payload = decided_event(site, comment, audit_entry, scores)
    delivery = WebhookDelivery(site_id=site.id, comment_id=comment.id, event=EVENT_DECIDED,
                               url=site.callback_url, payload=payload, state="pending")
    session.add(delivery)
    session.flush()
    delivery.payload = {**payload, "delivery_id": delivery.id}
    _after_commit(session, delivery.id, redis)


def _after_commit(session, delivery_id: int, redis) -> None:
    session.info.setdefault(_PENDING, []).append((delivery_id, redis))
    if session.info.get(_LISTENING):
        return
    session.info[_LISTENING] = True
    event.listen(session, "after_commit", _enqueue_pending)
    event.listen(session, "after_rollback", _forget_pending)


def _enqueue_pending(session) -> None:
    pending = session.info.pop(_PENDING, [])
    if not pending:
        return
    from workers.delivery import enqueue

    for delivery_id, redis in pending:
        try:
            enqueue(redis, delivery_id)
        except Exception:  # Redis down: the row stays pending; requeue_pending or an admin resends it
            log.warning("could not enqueue webhook delivery %s", delivery_id, exc_info=True)


def _forget_pending(session) -> None:
    session.info.pop(_PENDING, None)
