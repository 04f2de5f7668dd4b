"""Synchronous scoring from the web process, which does not hold the model: enqueue the texts on the
``vigie-sync`` queue (served by model workers before batched scoring) and wait for the answer within a budget.

The wait reads the job's rq result stream with a blocking ``XREAD`` (millisecond budget), then the job is deleted
so no text stays in Redis. If no worker answers in time the job is cancelled and ``SyncUnavailable`` is raised:
the Perspective API answers 503, Coral gets "no opinion" and its comment goes through the normal queue.
"""
from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass

from rq import Queue
from rq.job import Job
from rq.results import Result

from service.queue import SYNC_QUEUE

log = logging.getLogger(__name__)
JOB_FUNC = "workers.sync_jobs.score_texts"


class SyncUnavailable(Exception):
    """No worker scored the texts within the budget (or Redis is unavailable)."""


@dataclass
class SyncScores:
    scores: list[dict[str, float]]
    model: str
    version: str
    threshold: float | None


def score(redis, texts: list[str], timeout_ms: int) -> SyncScores:
    """Score ``texts`` on a worker within ``timeout_ms``. Raises SyncUnavailable."""
    deadline = time.time() + timeout_ms / 1000
    try:
        job = Queue(SYNC_QUEUE, connection=redis).enqueue(
            JOB_FUNC, list(texts), deadline, ttl=max(1, math.ceil(timeout_ms / 1000)), result_ttl=30,
            failure_ttl=60, job_timeout=60)
    except Exception as exc:  # Redis down
        log.warning("could not enqueue a sync scoring job", exc_info=True)
        raise SyncUnavailable("the scoring queue is unavailable") from exc
    try:
        remaining_ms = int((deadline - time.time()) * 1000)
        answered = remaining_ms > 0 and redis.xread({Result.get_key(job.id): "0-0"}, block=remaining_ms)
        result = job.latest_result() if answered else None
        if result is None:
            raise SyncUnavailable(f"no worker scored the comment within {timeout_ms} ms")
        if result.type != Result.Type.SUCCESSFUL or not result.return_value:
            raise SyncUnavailable("the scoring job failed")
        value = result.return_value
        return SyncScores(scores=value["scores"], model=value["model"], version=value["version"],
                          threshold=value.get("threshold"))
    except SyncUnavailable:
        raise
    except Exception as exc:
        log.warning("sync scoring failed", exc_info=True)
        raise SyncUnavailable("the scoring queue is unavailable") from exc
    finally:
        _discard(job)


def _discard(job: Job) -> None:
    """Remove the job (and so the texts it carries) from Redis; cancel it first if no worker took it. A job a
    worker is still running is left to expire with its short result TTL."""
    try:
        status = job.get_status(refresh=True)
        if status in ("queued", "deferred", "scheduled"):
            job.cancel()
        if status != "started":
            job.delete()
    except Exception:
        log.debug("could not delete sync job %s", job.id, exc_info=True)
