"""Synchronous scoring from the web process, which does not hold the model (Perspective API, Coral).

A request is written to Redis (``vigie:sync:req:<id>``: texts, deadline and the calling site's id, expiring with the
budget), its id is
appended to the list ``vigie:sync:pending``, and an RQ job carrying only that id is enqueued on ``vigie-sync``
(served by model workers before batched scoring). The job pops up to ``VIGIE_BATCH_SIZE`` waiting requests at once,
its own and any that arrived meanwhile, scores all their texts in one forward pass and pushes each answer to
``vigie:sync:res:<id>``; the web process waits on that key with ``BLPOP`` within its budget. Concurrent calls thus
share forward passes, and a job whose request was already answered by another job's batch finds nothing to do.
Texts never travel in the job itself and their keys are deleted once read, so ``doNotStore`` leaves nothing behind.
The site id (never sealed: it is no secret) lets the worker score with the site's own model (issue 13); the answer
names the model that scored (the site's version and threshold when it has one), which the caller stores.

If no worker answers in time, the request is withdrawn and ``SyncUnavailable`` is raised: the Perspective API
answers 503, Coral gets "no opinion" and its comment goes through the normal queue.
"""
from __future__ import annotations

import json
import logging
import math
import time
import uuid
from dataclasses import dataclass

from rq import Queue

from core import metrics, sealing

from core.queues import (
    SYNC_FAILURE_TTL_S,
    SYNC_JOB,
    SYNC_JOB_RESULT_TTL_S,
    SYNC_JOB_TIMEOUT_S,
    SYNC_PENDING_LIST,
    SYNC_QUEUE,
    SYNC_REQUEST_KEY,
    SYNC_RESULT_KEY,
    SYNC_TOO_LONG,
)

log = logging.getLogger(__name__)


class SyncUnavailable(Exception):
    """No worker scored the texts within the budget (or Redis is unavailable)."""


@dataclass
class SyncScores:
    scores: list[dict[str, float]]
    model: str
    version: str
    threshold: float | None
    model_ms: float = 0.0  # the forward pass that answered (shared with the other calls in its batch)
    batch: int = 1  # texts in that forward pass


def score(redis, texts: list[str], timeout_ms: int, sealed: bool = False, site_id: int | None = None) -> SyncScores:
    """Score ``texts`` on a worker within ``timeout_ms``, with site ``site_id``'s own model when it has an active
    one (else the shared model). ``sealed`` (Perspective's doNotStore): the texts cross Redis encrypted for the live
    workers' in-memory keys (core/sealing.py), never in plaintext. Raises SyncUnavailable."""
    request_id = uuid.uuid4().hex
    deadline = time.time() + timeout_ms / 1000
    request_key, result_key = SYNC_REQUEST_KEY + request_id, SYNC_RESULT_KEY + request_id
    queue = Queue(SYNC_QUEUE, connection=redis)
    job = None
    try:
        if sealed:
            request = {"sealed": sealing.seal(list(texts), _worker_keys(redis, deadline)), "deadline": deadline}
        else:
            request = {"texts": list(texts), "deadline": deadline}
        if site_id is not None:
            request["site_id"] = int(site_id)
        pipe = redis.pipeline()
        pipe.set(request_key, json.dumps(request), px=timeout_ms + 1000)
        pipe.rpush(SYNC_PENDING_LIST, request_id)
        pipe.execute()
        job = queue.enqueue(SYNC_JOB, request_id, ttl=max(1, math.ceil(timeout_ms / 1000)),
                            result_ttl=SYNC_JOB_RESULT_TTL_S, failure_ttl=SYNC_FAILURE_TTL_S,
                            job_timeout=SYNC_JOB_TIMEOUT_S)
        # Wait in slices of half the client's socket timeout (a longer block would read as a hung Redis).
        slice_s = (redis.connection_pool.connection_kwargs.get("socket_timeout") or 5.0) / 2
        answer, remaining = None, deadline - time.time()
        while answer is None and remaining > 0:
            answer = redis.blpop([result_key], timeout=min(remaining, slice_s))
            remaining = deadline - time.time()
    except sealing.Unsealable as exc:  # no live worker has published a key: none would answer anyway
        metrics.sync_request("unavailable")
        raise SyncUnavailable("no live worker to score the comment") from exc
    except Exception as exc:  # Redis down or failing
        log.warning("sync scoring unavailable", exc_info=True)
        metrics.sync_request("unavailable")
        _withdraw(redis, queue, job, request_id)
        raise SyncUnavailable("the scoring queue is unavailable") from exc
    if answer is None:
        metrics.sync_request("timeout")
        _withdraw(redis, queue, job, request_id)
        raise SyncUnavailable(f"no worker scored the comment within {timeout_ms} ms")
    _withdraw(redis, queue, job, request_id, answered=True)
    value = json.loads(answer[1])
    if value.get("error") == SYNC_TOO_LONG:
        metrics.sync_request("too_long")
        raise SyncUnavailable(f"the comment is too long to score within {timeout_ms} ms on this server "
                              f"({value.get('windows', '?')} windows of text)")
    if "error" in value:
        metrics.sync_request("error")
        raise SyncUnavailable(f"the scoring job failed: {value['error']}")
    metrics.sync_request("answered")
    return SyncScores(scores=value["scores"], model=value["model"], version=value["version"],
                      threshold=value.get("threshold"), model_ms=value.get("model_ms", 0.0),
                      batch=value.get("batch", 1))


def _worker_keys(redis, deadline: float) -> dict[str, bytes]:
    """The live workers' public keys; while there is none yet (a worker starting, Redis just restarted: workers
    publish theirs every few seconds) wait for one within the budget."""
    keys = sealing.live_keys(redis)
    while not keys and time.time() + 0.05 < deadline:
        time.sleep(0.05)
        keys = sealing.live_keys(redis)
    return keys


def _withdraw(redis, queue: Queue, job, request_id: str, answered: bool = False) -> None:
    """Remove what is left of a request: its texts and place in line (unless answered), and its job if no worker
    took it yet (another job's batch may have answered it)."""
    try:
        pipe = redis.pipeline()
        if not answered:
            pipe.delete(SYNC_REQUEST_KEY + request_id)
            pipe.lrem(SYNC_PENDING_LIST, 0, request_id)
        pipe.delete(SYNC_RESULT_KEY + request_id)
        if job is not None:
            pipe.lrem(queue.key, 0, job.id)
        removed = pipe.execute()[-1] if job is not None else 0
        if removed:
            job.delete()
    except Exception:
        log.debug("could not clean up sync request %s", request_id, exc_info=True)
