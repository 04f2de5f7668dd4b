"""The reconciler: what Redis lost or never got is queued again from the database, with no human action.

* Pending comments that no live worker holds (Redis was down at ingest, a worker died holding them, Redis lost its
  data) go back on the scoring queue; a lost drain job is replaced. A holder is dead when its process has not beaten
  within ``queues.ALIVE_STALE_S`` (20 s): a SIGKILLed worker's batch is back in the queue within about 30 s, not
  after the job timeout.
* Webhook deliveries whose job was never queued (Redis was down when their decision committed) are queued.

Every model worker runs it periodically (``vigie worker``; one run per interval across all workers, by a Redis
lock); ``vigie reconcile`` runs it once by hand.
"""
from __future__ import annotations

import logging
import time
from datetime import timedelta

from sqlalchemy import select

from core import outbox, queues
from core.services import Services
from core.storage.models import Comment, utcnow
from core.vocabulary import Status

log = logging.getLogger(__name__)
DELIVERY_GRACE_S = 60  # a delivery row younger than this may still be queued by its own transaction's commit


def reconcile(services: Services, min_age_s: float | None = None, limit: int = 10_000) -> int:
    """Re-queue pending comments that no job holds, and deliveries never queued. Returns how many comments were
    re-queued. Comments younger than ``min_age_s`` (default ``VIGIE_RECONCILE_MIN_AGE_S``) are left to the normal
    path."""
    settings, redis = services.settings, services.redis
    min_age = settings.reconcile_min_age_s if min_age_s is None else min_age_s
    cutoff = utcnow() - timedelta(seconds=min_age)
    with services.db.sessionmaker() as session:
        pending = list(session.scalars(select(Comment.id).where(Comment.status == Status.pending.value,
                                                                Comment.received_at <= cutoff)
                                       .order_by(Comment.id).limit(limit)))
    stale_before = time.time() - settings.job_timeout_s  # held longer than a job may run
    alive = queues.alive_workers(redis) if pending else set()
    pipe = redis.pipeline()
    for comment_id in pending:
        pipe.zscore(queues.PENDING_KEY, str(comment_id))
        pipe.zscore(queues.INFLIGHT_KEY, str(comment_id))
        pipe.hget(queues.INFLIGHT_OWNER_KEY, str(comment_id))
    answers = pipe.execute() if pending else []
    orphans = []
    for index, comment_id in enumerate(pending):
        waiting, held_since, owner = answers[3 * index: 3 * index + 3]
        owner = owner.decode() if isinstance(owner, bytes) else owner
        holder_dead = owner is not None and owner not in alive  # its process stopped beating: SIGKILL, OOM...
        if waiting is None and (held_since is None or held_since < stale_before or holder_dead):
            orphans.append(comment_id)
    if orphans:
        redis.zrem(queues.INFLIGHT_KEY, *[str(i) for i in orphans])
        redis.hdel(queues.INFLIGHT_OWNER_KEY, *[str(i) for i in orphans])
        queues.schedule(redis, orphans, settings.job_timeout_s)
        log.info("reconciler re-queued %d pending comment(s)", len(orphans))
    if queues.pending_count(redis) and queues.queue(queues.SCORE_QUEUE, redis).count == 0:
        redis.delete(queues.DRAIN_FLAG)  # a lost drain job (worker killed) must not block the queue
        queues.ensure_drain(redis, settings.job_timeout_s)
    requeue_deliveries(services)
    return len(orphans)


def requeue_deliveries(services: Services, older_than_s: int = DELIVERY_GRACE_S) -> int:
    """Queue the webhook deliveries never queued (see ``core.outbox.requeue_pending``)."""
    settings = services.settings
    with services.db.sessionmaker() as session:
        count = outbox.requeue_pending(session, services.redis, settings.webhook_retry_intervals,
                                       settings.webhook_timeout_s, older_than_s=older_than_s)
    if count:
        log.info("reconciler queued %d webhook delivery(ies) that were never queued", count)
    return count


def reconcile_if_due(services: Services, interval_s: float) -> int | None:
    """Run the reconciler unless another process ran it within ``interval_s`` (a Redis lock shared by all
    workers)."""
    if not services.redis.set(queues.RECONCILE_LOCK, "1", nx=True, ex=max(1, int(interval_s))):
        return None
    return reconcile(services)
