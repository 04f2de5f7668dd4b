"""RQ jobs of the scoring side: ``drain`` (batched scoring of queued comments) and ``explain`` (the spans that
raised a flagged comment's score, computed after its decision is stored: it costs many forward passes per comment).

Like every Vigie job they take the worker's ``Services`` as first argument (``workers.worker.ServicesJob`` passes
them); the rest is what was queued, validated by pydantic. Jobs carry no texts: ``drain`` pops comment ids from the
``vigie:pending`` sorted set (see core/queues.py), loads the comments that are still ``pending``, scores them in one
forward pass and decides each through ``core.decisions.apply_scores`` (the site's compiled policy, one result and
one decision per comment).

Ids a drain job holds are kept in ``vigie:inflight`` (scored by the time they were taken, with the holding worker's
name in ``vigie:inflight-owner``) until their decisions are committed. The reconciler (core/reconcile.py) re-adds
pending comments that are neither waiting in ``vigie:pending`` nor held by a live worker (one whose process beat
within ``ALIVE_STALE_S``), or that were held longer than the job timeout.
"""
from __future__ import annotations

import logging
import time
from datetime import timedelta

from pydantic import ConfigDict, PositiveInt, SkipValidation, validate_call
from rq import get_current_job
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, selectinload

from core import metrics, queues
from core.decisions import apply_scores
from core.services import Services
from core.storage.models import Comment, ModelResult
from core.vocabulary import Status
from workers import runtime, site_heads

log = logging.getLogger(__name__)
EXPLAIN_TOP_K = 5
# The job's arguments are validated; the worker's services are passed through as they are.
_JOB_ARGS = ConfigDict(arbitrary_types_allowed=True)

# Pop up to N ids from the pending set and mark them in flight with their holder, atomically (two workers never
# take the same id; the reconciler re-queues the ids of a holder that stopped beating).
_TAKE_SCRIPT = """
local items = redis.call('ZPOPMIN', KEYS[1], ARGV[1])
local ids = {}
for i = 1, #items, 2 do
  redis.call('ZADD', KEYS[2], ARGV[2], items[i])
  if ARGV[3] ~= '' then redis.call('HSET', KEYS[3], items[i], ARGV[3]) end
  ids[#ids + 1] = items[i]
end
return ids
"""


# ------------------------------------------------------------------------------------------------------ drain
def take(redis, limit: int, owner: str | None = None) -> list[int]:
    """Atomically take up to ``limit`` queued ids and mark them in flight, held by worker ``owner``."""
    raw = redis.eval(_TAKE_SCRIPT, 3, queues.PENDING_KEY, queues.INFLIGHT_KEY, queues.INFLIGHT_OWNER_KEY, limit,
                     time.time(), owner or "")
    return [int(x) for x in raw]


def release(redis, ids: list[int], requeue: bool = False) -> None:
    if not ids:
        return
    pipe = redis.pipeline()
    pipe.zrem(queues.INFLIGHT_KEY, *[str(i) for i in ids])
    pipe.hdel(queues.INFLIGHT_OWNER_KEY, *[str(i) for i in ids])
    if requeue:
        pipe.zadd(queues.PENDING_KEY, {str(i): time.time() for i in ids}, nx=True)
    pipe.execute()


@validate_call(config=_JOB_ARGS)
def drain(svc: SkipValidation[Services], limit: PositiveInt | None = None) -> dict[str, int]:
    """Score one batch of queued comments. Enqueues another drain job first if more ids are waiting, so that
    other workers share the load. Returns counts for the job's result."""
    settings, redis = svc.settings, svc.redis
    redis.delete(queues.DRAIN_FLAG)  # from now on, new arrivals enqueue a fresh drain job
    size = limit or settings.batch_size
    job = get_current_job()
    owner = job.worker_name if job is not None else None
    ids = take(redis, size, owner)
    if len(ids) < size and settings.batch_wait_ms:
        time.sleep(settings.batch_wait_ms / 1000)  # a short wait lets a burst fill the batch
        ids += take(redis, size - len(ids), owner)
    if queues.pending_count(redis):
        queues.ensure_drain(redis, settings.job_timeout_s)
    if not ids:
        return {"taken": 0, "decided": 0}
    try:
        decided, to_explain = score_comments(svc, ids)
    except BaseException:
        release(redis, ids, requeue=True)  # back in the queue for the job's retry (with backoff); nothing is lost
        raise
    release(redis, ids)
    if to_explain:
        schedule_explain(svc, to_explain)
    return {"taken": len(ids), "decided": decided, "to_explain": len(to_explain)}


def schedule_explain(svc: Services, comment_ids: list[int]) -> None:
    """Queue span computation for decided comments, one job each: between two of them a worker takes any waiting
    scoring job first, so explanations never hold decisions back by more than one. A failure only leaves the spans
    empty."""
    try:
        explain_queue = queues.queue(queues.EXPLAIN_QUEUE, svc.redis)
        explain_queue.enqueue_many([
            explain_queue.prepare_data(queues.EXPLAIN_JOB, args=([comment_id],), timeout=svc.settings.job_timeout_s,
                                       result_ttl=queues.RESULT_TTL_S, failure_ttl=queues.FAILURE_TTL_S)
            for comment_id in comment_ids])
    except Exception:
        log.warning("could not queue explanations for %s", comment_ids, exc_info=True)


def score_comments(svc: Services, ids: list[int]) -> tuple[int, list[int]]:
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


def _score_in(session: Session, svc: Services, ids: list[int],
              summary: dict | None = None) -> tuple[int, list[int]]:
    # Read the texts and let go of the database before inference: no transaction (and no row lock) stays open
    # while the model runs, so a worker that dies mid-batch leaves nothing locked behind it.
    rows = session.execute(select(Comment.id, Comment.text, Comment.site_id).where(
        Comment.id.in_(ids), Comment.status == Status.pending.value)).all()
    texts = {comment_id: text for comment_id, text, _ in rows}
    site_of = {comment_id: site_id for comment_id, _, site_id in rows}
    if not texts:
        session.rollback()
        return 0, []
    scorer = runtime.get_scorer(svc.settings)
    heads = site_heads.heads_for(session, scorer, set(site_of.values()))  # sites' own models (issue 13)
    session.rollback()
    order = sorted(texts)
    started = time.perf_counter()
    batch_heads = [heads.get(site_of[i]) for i in order] if heads else None
    scored = dict(zip(order, scorer.predict([texts[i] for i in order], heads=batch_heads)
                      if heads else scorer.predict([texts[i] for i in order])))
    elapsed = time.perf_counter() - started
    metrics.forward_pass("batch", len(order), elapsed)
    latency_ms = elapsed * 1000 / len(order)
    summary = {} if summary is None else summary
    summary["model_ms"] = latency_ms * len(order)
    # Then decide, in one short transaction, those still pending (another worker or a moderator may have decided
    # some meanwhile; on PostgreSQL a row another transaction holds is skipped and stays with that transaction).
    stmt = (select(Comment).where(Comment.id.in_(order), Comment.status == Status.pending.value)
            .options(selectinload(Comment.site), selectinload(Comment.result)).order_by(Comment.id))
    if session.get_bind().dialect.name == "postgresql":
        stmt = stmt.with_for_update(skip_locked=True, of=Comment)
    comments = list(session.scalars(stmt))
    all_scores = [scored[c.id] for c in comments]
    to_explain = []
    for comment, scores in zip(comments, all_scores):
        model_name, model_version, threshold = site_heads.model_of(scorer, heads.get(comment.site_id),
                                                                   svc.settings.model)
        decision = apply_scores(session, comment.site, comment, scores, model_name, model_version, threshold,
                                latency_ms, svc)
        if decision.status != Status.approved.value and hasattr(scorer, "explain"):
            to_explain.append(comment.id)
        summary[decision.status] = summary.get(decision.status, 0) + 1
    return len(comments), to_explain


# ---------------------------------------------------------------------------------------------------- explain
@validate_call(config=_JOB_ARGS)
def explain(svc: SkipValidation[Services], comment_ids: list[PositiveInt]) -> int:
    """Store the spans that raised each comment's toxicity score (``ModelResult.spans``) where still missing.
    While comments wait for a decision the job steps aside (rescheduled a second later by the rq scheduler), so
    under load explanations use idle time only. A comment whose explanation fails keeps its decision and simply has
    no spans. Returns how many were stored."""
    if queues.pending_count(svc.redis):  # comments are waiting for a decision: they come first
        queues.queue(queues.EXPLAIN_QUEUE, svc.redis).enqueue_in(
            timedelta(seconds=queues.EXPLAIN_DEFER_S), queues.EXPLAIN_JOB, comment_ids,
            job_timeout=svc.settings.job_timeout_s, result_ttl=queues.RESULT_TTL_S, failure_ttl=queues.FAILURE_TTL_S)
        return 0
    scorer = runtime.get_scorer(svc.settings)
    if not hasattr(scorer, "explain"):
        return 0
    stored = 0
    for comment_id in comment_ids:
        with svc.db.sessionmaker() as session:
            result = session.scalar(select(ModelResult).where(ModelResult.comment_id == comment_id)
                                    .options(selectinload(ModelResult.comment)))
            if result is None or result.spans is not None or result.comment.erased_at is not None:
                continue  # explained already, or erased meanwhile (core/erasure.py)
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
