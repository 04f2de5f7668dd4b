"""The worker process (``vigie worker``): an rq ``SimpleWorker`` (no fork per job, so the model is loaded once per
process and shared by every job) on the sync, score and explain queues by default, with rq's scheduler (retries with
backoff) in a thread (never a forked child: ``start_scheduler``), a reconciler thread guarded by a Redis lock, and job-aware logging. ``--queues webhooks`` runs a
model-free worker for outgoing callbacks.

Its Redis connection (``queue.connect_worker``) waits longer than rq's blocking dequeue, so an idle worker keeps
listening. A model worker heartbeats into Vigie's own record (``queue.beat``) before every dequeue and at every job,
only after its model is loaded: ``/readyz`` counts workers heard from within ``queue.WORKER_LIVE_S``
(``queue.live_workers``), which survives Redis losing its data, unlike rq's registrations.
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
from rq.scheduler import RQScheduler

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


class VigieWorker(SimpleWorker):
    """rq's ``SimpleWorker`` (jobs run in this process, next to the loaded model) that also records, for model
    workers, that it is listening now."""

    def heartbeat(self, timeout=None, pipeline=None):
        result = super().heartbeat(timeout, pipeline)
        if MODEL_QUEUES.intersection(self.queue_names()):
            queue.beat(self.connection, self.name)
        return result

    def register_death(self):
        try:
            queue.forget(self.connection, self.name)
        finally:
            super().register_death()


def build_worker(connection, queues: Sequence[str], name: str | None = None) -> SimpleWorker:
    return VigieWorker([Queue(q, connection=connection) for q in queues], connection=connection,
                       name=name or worker_name(queues), default_result_ttl=60, worker_ttl=queue.WORKER_TTL_S)


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


SCHEDULER_INTERVAL_S = 1  # seconds; an int: rq passes interval + 60 to Redis as a lock TTL
SCHEDULER_LOCK_RETRY_S = 15.0


def start_scheduler(connection, queues: Sequence[str], stop: threading.Event) -> threading.Thread:
    """rq's scheduler (job retries with back-off, delayed webhook deliveries) as a thread of this process rather
    than rq's forked child. A forked scheduler inherits the worker's open database connections (and its model's
    memory), and outlives a SIGKILLed worker as an orphan that keeps the dead worker's transaction open. A thread
    dies with its worker; the scheduler lock it held expires (rq: interval + 60 s) and another worker's thread
    takes it over. Redis errors are logged and retried, never fatal."""
    scheduler = RQScheduler(list(queues), connection=connection, interval=SCHEDULER_INTERVAL_S,
                            logging_level=logging.getLogger("rq.scheduler").getEffectiveLevel())  # as configured

    def loop() -> None:
        next_lock_try = 0.0
        while not stop.is_set():
            try:
                now = time.monotonic()
                if scheduler.acquired_locks != set(queues) and now >= next_lock_try:
                    next_lock_try = now + SCHEDULER_LOCK_RETRY_S
                    if scheduler.acquire_locks():
                        scheduler.register_birth()
                if scheduler.acquired_locks:
                    scheduler.heartbeat()
                    scheduler.enqueue_scheduled_jobs()
            except Exception:
                log.warning("scheduler pass failed; will try again", exc_info=True)
            stop.wait(SCHEDULER_INTERVAL_S)
        try:
            if scheduler.acquired_locks:
                scheduler.release_locks()
                scheduler.register_death()
        except Exception:
            log.debug("could not release the scheduler locks", exc_info=True)

    thread = threading.Thread(target=loop, name="vigie-scheduler", daemon=True)
    thread.start()
    return thread


def run(settings: Settings, queues: Iterable[str] | None = None, burst: bool = False,
        with_scheduler: bool = True, reconcile: bool = True) -> bool:
    """Run a worker until stopped (or, with ``burst``, until its queues are empty)."""
    names = queue_names(queues)
    connection = queue.connect_worker(settings)
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
    if with_scheduler and not burst:
        start_scheduler(connection, names, stop)
    try:
        worker = build_worker(connection, names)
        return worker.work(burst=burst, with_scheduler=False, logging_level=rq_log_level(settings.log_level),
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


def live_model_workers(connection) -> list[str]:
    """Names of model workers listening now (Vigie's heartbeat record; see ``queue.live_workers``)."""
    return queue.live_workers(connection)
