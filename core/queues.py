"""Every queue name, Redis key, TTL and job name of Vigie, and the scoring queue's few operations.

How batching works: ingest adds comment ids to a Redis sorted set (``vigie:pending``, scored by arrival time) and
enqueues an RQ *drain* job unless one is already waiting. A worker running a drain job pops up to
``VIGIE_BATCH_SIZE`` ids at once (atomic ``ZPOPMIN``, so two workers never take the same id), scores them in one
forward pass and stores the decisions; while more ids remain it enqueues another drain job so other workers join
in. Jobs therefore carry ids, never texts, and batches form by themselves under load without waiting when idle.
If a worker dies holding ids, the comments stay ``pending`` in the database and the reconciler re-adds them.

Job names are strings (rq imports the function by name in the worker process), so the web side queues worker jobs
without importing ``workers``. Every worker job takes the worker's ``Services`` as its first argument.
"""
from __future__ import annotations

import contextlib
import json
import time
from typing import Iterable

from redis import Redis
from rq import Queue, Retry

# ------------------------------------------------------------------------------------------------ queues
SYNC_QUEUE = "vigie-sync"  # synchronous scoring for Perspective / Coral: served first
SCORE_QUEUE = "vigie-score"  # drain jobs (batched scoring)
EXPLAIN_QUEUE = "vigie-explain"  # spans for flagged comments: served after scoring, off the decision path
WEBHOOK_QUEUE = "vigie-webhooks"  # outgoing callbacks; separate worker so a slow receiver never slows scoring
TRAIN_QUEUE = "vigie-train"  # a site's own model (issue 13): the shared encoder's embeddings, then a small head
# A model worker serves sync scoring first, then batches, then the spans of flagged comments, then training.
DEFAULT_QUEUES = (SYNC_QUEUE, SCORE_QUEUE, EXPLAIN_QUEUE, TRAIN_QUEUE)
MODEL_QUEUES = frozenset(DEFAULT_QUEUES)
ALL_QUEUES = (*DEFAULT_QUEUES, WEBHOOK_QUEUE)
QUEUE_ALIASES = {"sync": SYNC_QUEUE, "score": SCORE_QUEUE, "explain": EXPLAIN_QUEUE, "webhooks": WEBHOOK_QUEUE,
                 "train": TRAIN_QUEUE}

# --------------------------------------------------------------------------------------------- job names
DRAIN_JOB = "workers.jobs.drain"
EXPLAIN_JOB = "workers.jobs.explain"
SYNC_JOB = "workers.sync_jobs.score_pending"
DELIVER_JOB = "workers.delivery.deliver"
TRAIN_JOB = "workers.site_training.train_job"

# ------------------------------------------------------------------------------------------------- keys
PENDING_KEY = "vigie:pending"  # sorted set: comment ids waiting for a drain job (score: arrival time)
INFLIGHT_KEY = "vigie:inflight"  # sorted set: ids a drain job holds (score: when taken)
INFLIGHT_OWNER_KEY = "vigie:inflight-owner"  # hash: id a drain job holds -> name of the worker running that job
ALIVE_KEY = "vigie:alive"  # sorted set: worker name -> last beat of its process (a thread, every ALIVE_BEAT_S)
DRAIN_FLAG = "vigie:drain-queued"  # set while a drain job waits to start
RECONCILE_LOCK = "vigie:reconcile-lock"  # one reconciler run per interval across all workers
SYNC_PENDING_LIST = "vigie:sync:pending"  # list of sync request ids waiting for a sync job
SYNC_REQUEST_KEY = "vigie:sync:req:"  # + request id: its texts and deadline (deleted once read)
SYNC_RESULT_KEY = "vigie:sync:res:"  # + request id: the answer its caller waits on (BLPOP)
SYNC_TOO_LONG = "too_long"  # a sync answer's error: the text cannot be scored within its caller's deadline
SYNC_KEYS_KEY = "vigie:sync:keys"  # hash: model worker key id -> public key for sealed requests (core/sealing.py)
WEBHOOK_SEEN_PREFIX = "vigie:webhook-seen:"  # + site:timestamp:signature: replay protection of signed webhooks
DELIVERY_QUEUED_PREFIX = "vigie:delivery-queued:"  # + delivery id: its job was queued (kept FAILURE_TTL_S)
UNDO_PREFIX = "vigie:undo:"  # + user id: a moderator's last actions
VIEWING_PREFIX = "vigie:viewing:"  # + comment id: who has it focused in the dashboard (sorted set, short TTL)
RATE_LIMIT_PREFIX = "vigie-limits"  # Flask-Limiter's counters (service/ratelimit.py): failed logins, API keys
TRAIN_STATUS_PREFIX = "vigie:train:"  # + site id: JSON {state, progress, message, candidate_id} of its training
TRAIN_STATUS_TTL_S = 7 * 86400
WORKERS_KEY = "vigie:workers"  # sorted set: model worker name -> time of its last heartbeat (while listening)

# ---------------------------------------------------------------------------------------------- TTLs
FAILURE_TTL_S = 7 * 86400  # failed jobs are kept a week (`vigie failed`)
RESULT_TTL_S = 60  # results of scoring jobs
WEBHOOK_RESULT_TTL_S = 3600
DRAIN_FLAG_TTL_S = 600  # a drain job that never started stops blocking new ones after this
DRAIN_RETRY = (5, 30, 120)  # a failed drain job is retried after these delays (its ids are back in the queue)
EXPLAIN_DEFER_S = 1  # an explanation due while comments wait for a decision is retried this much later
SYNC_RESULT_TTL_S = 30
SYNC_JOB_TIMEOUT_S = 60
SYNC_FAILURE_TTL_S = 300
UNDO_TTL_S = 24 * 3600
SYNC_JOB_RESULT_TTL_S = 0  # a sync job's answer travels by its result key, not rq's result
ALIVE_BEAT_S = 5  # a worker process records that it is alive this often
ALIVE_STALE_S = 20  # ids held by a worker silent this long go back in the queue (it died: SIGKILL, OOM, power)


# Worker connection timing. rq's blocking dequeue waits ``worker_ttl - 15`` seconds; the worker's Redis connection
# must wait longer than that, or every idle dequeue ends in a socket timeout that rq treats as "Redis unreachable"
# and answers with a growing back-off (1 s ... 60 s) during which nothing is scored.
WORKER_TTL_S = 35
DEQUEUE_TIMEOUT_S = WORKER_TTL_S - 15  # rq's Worker.dequeue_timeout for that ttl
WORKER_SOCKET_TIMEOUT_S = DEQUEUE_TIMEOUT_S + 10
# A model worker heartbeats before every dequeue (at least every DEQUEUE_TIMEOUT_S) and at every job: one silent
# for longer than this is not listening (dead, hung, or stuck in a job) and does not count for readiness.
WORKER_LIVE_S = WORKER_SOCKET_TIMEOUT_S + 5


def webhook_job_timeout(webhook_timeout_s: float) -> int:
    """The rq timeout of one delivery attempt: the HTTP timeout with room for the database work around it."""
    return max(30, int(webhook_timeout_s * 3))


def queue_names(names: Iterable[str] | None) -> list[str]:
    """Full queue names from names or aliases (``sync``, ``score``, ``webhooks``), in priority order."""
    out: list[str] = []
    for name in names or DEFAULT_QUEUES:
        for part in str(name).split(","):
            part = part.strip()
            if part:
                full = QUEUE_ALIASES.get(part, part)
                if full not in out:
                    out.append(full)
    return out or list(DEFAULT_QUEUES)


def queue(name: str, connection: Redis) -> Queue:
    return Queue(name, connection=connection)


# ------------------------------------------------------------------------------------------ scoring queue
def schedule(connection: Redis, comment_ids: Iterable[int], job_timeout_s: int) -> None:
    """Queue comments for scoring. Raises redis errors: callers that already stored the comment log and go on
    (the reconciler will pick it up)."""
    ids = list(comment_ids)
    if not ids:
        return
    now = time.time()
    pipe = connection.pipeline(transaction=False)  # one round trip for the ids and the drain flag
    pipe.zadd(PENDING_KEY, {str(i): now for i in ids}, nx=True)
    pipe.set(DRAIN_FLAG, "1", nx=True, ex=DRAIN_FLAG_TTL_S)
    _, flag_taken = pipe.execute()
    if flag_taken:
        _enqueue_drain(connection, job_timeout_s)


def ensure_drain(connection: Redis, job_timeout_s: int) -> None:
    """Enqueue a drain job unless one is already waiting (the flag is cleared when a worker starts it)."""
    if connection.set(DRAIN_FLAG, "1", nx=True, ex=DRAIN_FLAG_TTL_S):
        _enqueue_drain(connection, job_timeout_s)


def _enqueue_drain(connection: Redis, job_timeout_s: int) -> None:
    try:
        queue(SCORE_QUEUE, connection).enqueue(DRAIN_JOB, job_timeout=job_timeout_s, result_ttl=RESULT_TTL_S,
                                               failure_ttl=FAILURE_TTL_S,
                                               retry=Retry(max=len(DRAIN_RETRY), interval=list(DRAIN_RETRY)))
    except Exception:
        with contextlib.suppress(Exception):
            connection.delete(DRAIN_FLAG)  # let the next arrival (or the reconciler) enqueue it
        raise


# --------------------------------------------------------------------------------------- site training
def enqueue_training(connection: Redis, site_id: int, requested_by: str, timeout_s: int) -> str:
    """Queue the training of a site's own model (``workers.site_training.train_job``); returns the job id."""
    set_training_status(connection, site_id, {"state": "queued", "progress": 0.0, "message": "",
                                              "requested_by": requested_by})
    job = queue(TRAIN_QUEUE, connection).enqueue(TRAIN_JOB, site_id, requested_by, job_timeout=timeout_s,
                                                 result_ttl=3600, failure_ttl=FAILURE_TTL_S)
    return job.id


def set_training_status(connection: Redis, site_id: int, status: dict) -> None:
    connection.set(f"{TRAIN_STATUS_PREFIX}{site_id}", json.dumps({**status, "at": time.time()}),
                   ex=TRAIN_STATUS_TTL_S)


def training_status(connection: Redis, site_id: int) -> dict | None:
    raw = connection.get(f"{TRAIN_STATUS_PREFIX}{site_id}")
    return json.loads(raw) if raw else None


def pending_count(connection: Redis) -> int:
    return int(connection.zcard(PENDING_KEY))


def beat(connection: Redis, worker_name: str) -> None:
    """Record that a model worker is listening now (see ``live_workers``)."""
    now = time.time()
    pipe = connection.pipeline(transaction=False)
    pipe.zadd(WORKERS_KEY, {worker_name: now})
    pipe.zremrangebyscore(WORKERS_KEY, "-inf", now - 3600)  # forget workers gone for an hour
    pipe.execute()


def forget(connection: Redis, worker_name: str) -> None:
    connection.zrem(WORKERS_KEY, worker_name)


def live_workers(connection: Redis) -> list[str]:
    """Names of model workers that heartbeat within ``WORKER_LIVE_S``: Vigie's own record, which a worker
    rewrites at its next heartbeat after Redis lost its data (rq's registrations are not rewritten)."""
    names = connection.zrangebyscore(WORKERS_KEY, time.time() - WORKER_LIVE_S, "+inf")
    return [n.decode() if isinstance(n, bytes) else n for n in names]


def beat_alive(connection: Redis, worker_name: str) -> None:
    """Record that a worker process is alive now (``ALIVE_KEY``); forget those gone for an hour."""
    now = time.time()
    pipe = connection.pipeline(transaction=False)
    pipe.zadd(ALIVE_KEY, {worker_name: now})
    pipe.zremrangebyscore(ALIVE_KEY, "-inf", now - 3600)
    pipe.execute()


def alive_workers(connection: Redis) -> set[str]:
    """Names of worker processes that beat within ``ALIVE_STALE_S``."""
    names = connection.zrangebyscore(ALIVE_KEY, time.time() - ALIVE_STALE_S, "+inf")
    return {n.decode() if isinstance(n, bytes) else n for n in names}
