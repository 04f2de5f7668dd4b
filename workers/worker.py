"""The worker process (``vigie worker``): an rq ``SimpleWorker`` (no fork per job, so the model is loaded once per
process and shared by every job) on the sync, score and explain queues by default, with the rq scheduler (retries with
backoff), a reconciler thread guarded by a Redis lock, and job-aware logging. ``--queues webhooks`` runs a
model-free worker for outgoing callbacks.

Its heartbeat is rq's worker registration: ``/readyz`` asks ``Worker.all`` for a live worker on the score queue.
A model worker registers only after its model is loaded, so "registered" means "ready to score".
"""
from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from typing import Iterable, Sequence

from rq import Queue, SimpleWorker, get_current_job
from rq.registry import FailedJobRegistry

from service import queue
from service.config import Settings
from workers import jobs, runtime

log = logging.getLogger(__name__)

# Sync scoring (Perspective, Coral) first, then batches, then the spans of flagged comments.
DEFAULT_QUEUES = (queue.SYNC_QUEUE, queue.SCORE_QUEUE, queue.EXPLAIN_QUEUE)
MODEL_QUEUES = frozenset({queue.SYNC_QUEUE, queue.SCORE_QUEUE, queue.EXPLAIN_QUEUE})
ALL_QUEUES = (*DEFAULT_QUEUES, queue.WEBHOOK_QUEUE)
QUEUE_ALIASES = {"sync": queue.SYNC_QUEUE, "score": queue.SCORE_QUEUE, "explain": queue.EXPLAIN_QUEUE,
                 "webhooks": queue.WEBHOOK_QUEUE}
LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s [%(job)s]: %(message)s"


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


class JobLogFilter(logging.Filter):
    """Adds ``%(job)s`` (the running job's id, or ``-``) to every log record."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            job = get_current_job()
        except Exception:
            job = None
        record.job = job.id if job is not None else "-"
        return True


def configure_logging(level: str, fmt: str = "text") -> None:
    """``VIGIE_LOG_LEVEL`` / ``VIGIE_LOG_FORMAT`` (service/logs.py), with the running job's id on every line."""
    from service import logs

    logs.configure(level, fmt, text_format=LOG_FORMAT, fields=("job",), filters=(JobLogFilter(),))


def rq_log_level(level: str) -> str:
    """rq logs 3-4 INFO lines per job: shown only when VIGIE_LOG_LEVEL is DEBUG."""
    from service import logs

    return "DEBUG" if logs.is_debug(level) else "WARNING"


def worker_name(queues: Sequence[str]) -> str:
    kind = "model" if MODEL_QUEUES.intersection(queues) else "webhooks"
    return f"vigie-{kind}-{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"


def build_worker(connection, queues: Sequence[str], name: str | None = None) -> SimpleWorker:
    return SimpleWorker([Queue(q, connection=connection) for q in queues], connection=connection,
                        name=name or worker_name(queues), default_result_ttl=60)


def start_reconciler(settings: Settings, stop: threading.Event) -> threading.Thread:
    """Every ``reconcile_interval_s``, one worker (whichever takes the Redis lock) re-queues orphaned comments."""

    def loop() -> None:
        while True:  # once at start (a restarted worker picks up what its predecessor left), then periodically
            try:
                jobs.reconcile_if_due(settings.reconcile_interval_s)
            except Exception:
                log.warning("reconciler run failed; will try again", exc_info=True)
            if stop.wait(settings.reconcile_interval_s):
                return

    thread = threading.Thread(target=loop, name="vigie-reconciler", daemon=True)
    thread.start()
    return thread


def run(settings: Settings, queues: Iterable[str] | None = None, burst: bool = False,
        with_scheduler: bool = True, reconcile: bool = True) -> bool:
    """Run a worker until stopped (or, with ``burst``, until its queues are empty)."""
    names = queue_names(queues)
    connection = queue.connect(settings)
    jobs.use(settings, redis=connection)
    if MODEL_QUEUES.intersection(names):
        started = time.monotonic()
        scorer = runtime.get_scorer(settings)  # load before registering: a registered worker is ready to score
        scorer.predict(["Merci pour cet article."])  # the first forward pass is slow: not on a caller's clock
        log.info("model loaded in %.1f s; listening on %s", time.monotonic() - started, ", ".join(names))
    else:
        log.info("listening on %s (no model)", ", ".join(names))
    stop = threading.Event()
    if reconcile and not burst:
        start_reconciler(settings, stop)
    try:
        worker = build_worker(connection, names)
        return worker.work(burst=burst, with_scheduler=with_scheduler, logging_level=rq_log_level(settings.log_level),
                           log_format=LOG_FORMAT)
    finally:
        stop.set()


def run_burst(connection, queues: Iterable[str] | None = None, raise_failures: bool = True) -> int:
    """Run every queued job in this process until the queues are empty (tests, ``vigie reconcile --now``).
    Jobs use whatever ``workers.jobs.use`` and ``workers.runtime.set_scorer`` installed. Returns the number of
    failed jobs; with ``raise_failures`` a job failure raises with the job's traceback."""
    names = queue_names(queues)
    registries = [FailedJobRegistry(name, connection=connection) for name in names]
    before = {job_id for r in registries for job_id in r.get_job_ids()}
    worker = build_worker(connection, names, name=f"vigie-burst-{uuid.uuid4().hex[:8]}")
    worker.work(burst=True, with_scheduler=False, logging_level="WARNING")
    failed = [job_id for r in registries for job_id in r.get_job_ids() if job_id not in before]
    if failed and raise_failures:
        from rq.job import Job

        details = []
        for job_id in failed:
            job = Job.fetch(job_id, connection=connection)
            details.append(f"{job.func_name}({job_id}):\n{job.latest_result().exc_string if job.latest_result() else ''}")
        raise RuntimeError("job(s) failed in burst run:\n" + "\n".join(details))
    return len(failed)


def live_model_workers(connection) -> list[SimpleWorker]:
    """Registered workers listening on the score queue (rq removes a worker whose heartbeat expired)."""
    return [w for w in SimpleWorker.all(connection=connection) if queue.SCORE_QUEUE in w.queue_names()]
