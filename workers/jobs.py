"""RQ jobs of the scoring side: ``drain`` (batched scoring of queued comments), ``explain`` (the spans that raised
a flagged comment's score, computed after its decision is stored: it costs many forward passes per comment) and
``reconcile`` (re-queue accepted comments that no job holds).

Jobs carry no texts (pydantic validates their arguments): ``drain`` pops comment ids from the ``vigie:pending``
sorted set (see service/queue.py), loads the comments that are still ``pending``, scores them in one forward pass,
applies each site's policy and stores one result and one decision per comment through ``record_decision``.

Ids a drain job holds are kept in ``vigie:inflight`` (scored by the time they were taken) until their decisions are
committed. The reconciler re-adds pending comments that are neither waiting in ``vigie:pending`` nor held by a
running job (or were held longer than the job timeout, i.e. by a worker that died).
"""
from __future__ import annotations

import json
import logging
import threading
import time
from datetime import timedelta

from pydantic import PositiveInt, validate_call
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, selectinload

from service import queue
from service.config import Settings
from service.context import Vigie
from service.moderation import record_decision
from service.storage.db import Database
from service.storage.models import Comment, ModelResult, Site, Status, utcnow
from workers import runtime
from workers.policy import CompiledPolicy

log = logging.getLogger(__name__)

INFLIGHT_KEY = "vigie:inflight"
RECONCILE_LOCK = "vigie:reconcile-lock"
EXPLAIN_TOP_K = 5
EXPLAIN_DEFER_S = 1  # an explanation due while comments wait for a decision is retried this much later

# Pop up to N ids from the pending set and mark them in flight, atomically (two workers never take the same id).
_TAKE_SCRIPT = """
local items = redis.call('ZPOPMIN', KEYS[1], ARGV[1])
local ids = {}
for i = 1, #items, 2 do
  redis.call('ZADD', KEYS[2], ARGV[2], items[i])
  ids[#ids + 1] = items[i]
end
return ids
"""

_services: Vigie | None = None
_services_lock = threading.Lock()


def use(settings: Settings | None, db: Database | None = None, redis=None) -> Vigie | None:
    """Set the settings, database and Redis the jobs of this process use (worker start-up, tests).
    ``use(None)`` forgets them."""
    global _services
    with _services_lock:
        if settings is None:
            _services = None
        else:
            _services = Vigie(settings=settings, db=db or Database(settings.resolved_database_url),
                              redis=redis if redis is not None else queue.connect(settings))
        return _services


def services() -> Vigie:
    """The settings, database and Redis of this worker process (from ``VIGIE_*`` on first use)."""
    if _services is None:
        use(Settings())
    assert _services is not None
    return _services


# --------------------------------------------------------------------------------------------------- policies
_policies: dict[tuple[int, str, float | None], CompiledPolicy] = {}


def compiled_policy(site: Site, model_threshold: float | None) -> CompiledPolicy:
    """The site's compiled policy, cached per site and per policy content (a changed policy compiles anew)."""
    key = (site.id, json.dumps(site.policy or {}, sort_keys=True, default=str), model_threshold)
    policy = _policies.get(key)
    if policy is None:
        if len(_policies) > 1000:
            _policies.clear()
        policy = _policies[key] = CompiledPolicy(site.policy, model_threshold)
    return policy


# ------------------------------------------------------------------------------------------------------ drain
def take(redis, limit: int) -> list[int]:
    """Atomically take up to ``limit`` queued ids and mark them in flight."""
    raw = redis.eval(_TAKE_SCRIPT, 2, queue.PENDING_KEY, INFLIGHT_KEY, limit, time.time())
    return [int(x) for x in raw]


def release(redis, ids: list[int], requeue: bool = False) -> None:
    if not ids:
        return
    pipe = redis.pipeline()
    pipe.zrem(INFLIGHT_KEY, *[str(i) for i in ids])
    if requeue:
        pipe.zadd(queue.PENDING_KEY, {str(i): time.time() for i in ids}, nx=True)
    pipe.execute()


@validate_call
def drain(limit: PositiveInt | None = None) -> dict[str, int]:
    """Score one batch of queued comments. Enqueues another drain job first if more ids are waiting, so that
    other workers share the load. Returns counts for the job's result."""
    svc = services()
    settings, redis = svc.settings, svc.redis
    redis.delete(queue.DRAIN_FLAG)  # from now on, new arrivals enqueue a fresh drain job
    size = limit or settings.batch_size
    ids = take(redis, size)
    if len(ids) < size and settings.batch_wait_ms:
        time.sleep(settings.batch_wait_ms / 1000)  # a short wait lets a burst fill the batch
        ids += take(redis, size - len(ids))
    if queue.pending_count(redis):
        queue.ensure_drain(redis)
    if not ids:
        return {"taken": 0, "decided": 0}
    try:
        decided, to_explain = score_comments(svc, ids)
    except BaseException:
        release(redis, ids, requeue=True)  # back in the queue for the job's retry (with backoff); nothing is lost
        raise
    release(redis, ids)
    if to_explain:
        schedule_explain(redis, to_explain)
    return {"taken": len(ids), "decided": decided, "to_explain": len(to_explain)}


def schedule_explain(redis, comment_ids: list[int]) -> None:
    """Queue span computation for decided comments, one job each: between two of them a worker takes any waiting
    scoring job first, so explanations never hold decisions back by more than one. A failure only leaves the spans
    empty."""
    try:
        explain_queue = queue.queue(queue.EXPLAIN_QUEUE, redis)
        explain_queue.enqueue_many([
            explain_queue.prepare_data("workers.jobs.explain", args=([comment_id],), timeout=600, result_ttl=60,
                                       failure_ttl=7 * 86400)
            for comment_id in comment_ids])
    except Exception:
        log.warning("could not queue explanations for %s", comment_ids, exc_info=True)


def score_comments(svc: Vigie, ids: list[int]) -> tuple[int, list[int]]:
    """Score and decide the given comments that are still pending. Safe to run twice for the same ids: the second
    run finds them decided and skips them (and ``model_results.comment_id`` is unique). Returns the number decided
    and the ids of those not approved (whose spans are worth computing)."""
    for attempt in range(3):
        with svc.db.sessionmaker() as session:
            try:
                summary: dict[str, float] = {}
                decided, to_explain = _score_in(session, svc, ids, summary)
                session.commit()
                if decided:  # the one INFO line per batch
                    log.info("batch of %d decided (%s) in %.0f ms", decided,
                             ", ".join(f"{k} {int(v)}" for k, v in sorted(summary.items()) if k != "model_ms"),
                             summary.get("model_ms", 0.0))
                return decided, to_explain
            except IntegrityError:  # another worker decided some of them at the same time: reload and retry
                session.rollback()
                if attempt == 2:
                    raise
                log.info("concurrent decision on batch %s; retrying with what is still pending", ids)
    return 0, []


def _score_in(session: Session, svc: Vigie, ids: list[int], summary: dict | None = None) -> tuple[int, list[int]]:
    stmt = (select(Comment).where(Comment.id.in_(ids), Comment.status == Status.pending.value)
            .options(selectinload(Comment.site), selectinload(Comment.result)).order_by(Comment.id))
    if session.get_bind().dialect.name == "postgresql":
        stmt = stmt.with_for_update(skip_locked=True, of=Comment)  # another worker holding a row keeps it
    comments = list(session.scalars(stmt))
    if not comments:
        return 0, []
    scorer = runtime.get_scorer(svc.settings)
    started = time.perf_counter()
    all_scores = scorer.predict([c.text for c in comments])
    latency_ms = (time.perf_counter() - started) * 1000 / len(comments)
    summary = {} if summary is None else summary
    summary["model_ms"] = latency_ms * len(comments)
    threshold = getattr(scorer, "threshold", None)
    to_explain = []
    for comment, scores in zip(comments, all_scores):
        scores = {label: float(value) for label, value in scores.items()}
        decision = compiled_policy(comment.site, threshold).decide(scores, comment.text)
        if decision.status != Status.approved.value and hasattr(scorer, "explain"):
            to_explain.append(comment.id)
        result = comment.result or ModelResult(comment_id=comment.id)
        result.scores = scores
        result.model_name = str(getattr(scorer, "name", svc.settings.model))
        result.model_version = str(getattr(scorer, "version", ""))
        result.latency_ms = latency_ms
        result.spans = None
        session.add(result)
        comment.score = scores.get("toxicity")
        record_decision(session, comment, decision.status, actor=decision.actor, actor_name=result.model_name,
                        reasons=decision.reasons, redis=svc.redis)
        summary[decision.status] = summary.get(decision.status, 0) + 1
    return len(comments), to_explain


@validate_call
def explain(comment_ids: list[PositiveInt]) -> int:
    """Store the spans that raised each comment's toxicity score (``ModelResult.spans``) where still missing.
    While comments wait for a decision the job steps aside (rescheduled a second later by the rq scheduler), so
    under load explanations use idle time only. A comment whose explanation fails keeps its decision and simply has
    no spans. Returns how many were stored."""
    svc = services()
    if queue.pending_count(svc.redis):  # comments are waiting for a decision: they come first
        queue.queue(queue.EXPLAIN_QUEUE, svc.redis).enqueue_in(
            timedelta(seconds=EXPLAIN_DEFER_S), "workers.jobs.explain", comment_ids, job_timeout=600,
            result_ttl=60, failure_ttl=7 * 86400)
        return 0
    scorer = runtime.get_scorer(svc.settings)
    if not hasattr(scorer, "explain"):
        return 0
    stored = 0
    for comment_id in comment_ids:
        with svc.db.sessionmaker() as session:
            result = session.scalar(select(ModelResult).where(ModelResult.comment_id == comment_id)
                                    .options(selectinload(ModelResult.comment)))
            if result is None or result.spans is not None:
                continue
            try:
                spans = scorer.explain(result.comment.text, label="toxicity", top_k=EXPLAIN_TOP_K)
            except Exception:
                log.warning("explain failed for comment %s; it keeps its decision without spans", comment_id,
                            exc_info=True)
                continue
            result.spans = [dict(span) for span in spans]
            session.commit()
            stored += 1
    return stored


# -------------------------------------------------------------------------------------------------- reconcile
def reconcile(min_age_s: float | None = None, limit: int = 10_000) -> int:
    """Re-queue pending comments that no job holds (Redis was down at ingest, a worker died holding them).
    Returns how many were re-queued. Comments younger than ``min_age_s`` are left to the normal path."""
    svc = services()
    settings, redis = svc.settings, svc.redis
    min_age = settings.reconcile_min_age_s if min_age_s is None else min_age_s
    cutoff = utcnow() - timedelta(seconds=min_age)
    with svc.db.sessionmaker() as session:
        pending = list(session.scalars(select(Comment.id).where(Comment.status == Status.pending.value,
                                                                Comment.received_at <= cutoff)
                                       .order_by(Comment.id).limit(limit)))
    stale_before = time.time() - settings.job_timeout_s
    pipe = redis.pipeline()
    for comment_id in pending:
        pipe.zscore(queue.PENDING_KEY, str(comment_id))
        pipe.zscore(INFLIGHT_KEY, str(comment_id))
    answers = pipe.execute() if pending else []
    orphans = []
    for index, comment_id in enumerate(pending):
        waiting, held_since = answers[2 * index], answers[2 * index + 1]
        if waiting is None and (held_since is None or held_since < stale_before):
            orphans.append(comment_id)
    if orphans:
        redis.zrem(INFLIGHT_KEY, *[str(i) for i in orphans])
        queue.schedule(redis, orphans)
        log.info("reconciler re-queued %d pending comment(s)", len(orphans))
    if queue.pending_count(redis) and queue.queue(queue.SCORE_QUEUE, redis).count == 0:
        redis.delete(queue.DRAIN_FLAG)  # a lost drain job (worker killed) must not block the queue
        queue.ensure_drain(redis)
    return len(orphans)


def reconcile_if_due(interval_s: float) -> int | None:
    """Run the reconciler unless another process ran it within ``interval_s`` (a Redis lock shared by all workers)."""
    redis = services().redis
    if not redis.set(RECONCILE_LOCK, "1", nx=True, ex=max(1, int(interval_s))):
        return None
    return reconcile()
