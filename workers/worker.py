"""The worker process (``vigie worker``): an rq ``SimpleWorker`` (no fork per job, so the model is loaded once per
process and shared by every job) on the sync, score and explain queues by default, with rq's scheduler (retries with
backoff) in a thread (never a forked child: ``start_scheduler``), a reconciler thread guarded by a Redis lock
(core/reconcile.py), and job-aware logging. ``--queues webhooks`` runs a model-free worker for outgoing callbacks.

The process builds its ``Services`` (settings, database, Redis) once; ``ServicesJob`` hands them to every job as its
first argument. Its Redis connection (``core.connection.connect_worker``) waits longer than rq's blocking dequeue, so
an idle worker keeps listening. A model worker heartbeats into Vigie's own record (``core.queues.beat``) before every
dequeue and at every job, only after its model is loaded: ``/readyz`` counts workers heard from within
``core.queues.WORKER_LIVE_S`` (``core.queues.live_workers``), which survives Redis losing its data, unlike rq's
registrations.
"""
from __future__ import annotations

import contextlib
import logging
import os
import socket
import threading
import time
import uuid
from typing import Any, Iterable, Sequence

from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError
from rq import Queue, SimpleWorker, get_current_job
from rq.job import Job
from rq.registry import FailedJobRegistry
from rq.scheduler import RQScheduler

from core import erasure, logs, metrics, queues, reconcile
from core.connection import connect_worker
from core.services import Services, build
from core.settings import Settings
from workers import runtime, sync_jobs

log = logging.getLogger(__name__)
LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s [%(job)s]: %(message)s"


class ServicesJob(Job):
    """An rq job run with the worker's services: ``func(services, *args, **kwargs)``. ``bind`` makes the class a
    worker uses (``services`` is set on it, once per worker)."""

    services: Services | None = None

    @classmethod
    def bind(cls, services: Services) -> type[ServicesJob]:
        return type("BoundServicesJob", (cls,), {"services": services})

    def _execute(self) -> Any:  # rq calls it to run the function with the job's arguments
        if self.services is None:
            raise RuntimeError("a Vigie job runs in a worker built by workers.worker.build_worker")
        return self.func(self.services, *self.args, **self.kwargs)


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
    """``VIGIE_LOG_LEVEL`` / ``VIGIE_LOG_FORMAT`` (core/logs.py), with the running job's id on every line."""
    logs.configure(level, fmt, text_format=LOG_FORMAT, fields=("job",), filters=(JobLogFilter(),))


def rq_log_level(level: str) -> str:
    """rq logs 3-4 INFO lines per job: shown only when VIGIE_LOG_LEVEL is DEBUG."""
    return "DEBUG" if logs.is_debug(level) else "WARNING"


def worker_name(queue_names: Sequence[str]) -> str:
    kind = "model" if queues.MODEL_QUEUES.intersection(queue_names) else "webhooks"
    return f"vigie-{kind}-{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"


class VigieWorker(SimpleWorker):
    """rq's ``SimpleWorker`` (jobs run in this process, next to the loaded model) that also records, for model
    workers, that it is listening now."""

    # rq backs off 1 s, 2 s, ... up to 60 s between dequeue attempts while Redis is unreachable: after a Redis restart
    # that would leave comments waiting up to a minute. 5 s at most.
    max_connection_wait_time = 5.0

    def heartbeat(self, timeout=None, pipeline=None):
        result = super().heartbeat(timeout, pipeline)
        if queues.MODEL_QUEUES.intersection(self.queue_names()):
            runtime.worker_key().publish(self.connection)  # sealed (doNotStore) requests can reach this worker
            queues.beat(self.connection, self.name)
            metrics.heartbeat()
        return result

    def register_death(self):
        try:
            queues.forget(self.connection, self.name)
        except RedisError:
            log.debug("could not forget %s (Redis unreachable): its heartbeat record expires", self.name)
        super().register_death()

    def teardown(self):
        """rq's teardown with each step on its own. rq runs ``register_death`` then ``unsubscribe``: with Redis away
        or restarting the first raises, the second is skipped and the pubsub thread stays behind, retrying its
        connection for ever (one more per restarted loop), and ``unsubscribe`` racing that thread on a broken
        connection can raise errors that are not connection errors. Nothing here may end the process."""
        for step in (self.register_death, self.unsubscribe):
            try:
                step()
            except Exception:
                log.info("worker teardown: %s failed (Redis unreachable?)", step.__name__, exc_info=True)
        thread = getattr(self, "pubsub_thread", None)
        if thread is not None and thread.is_alive():  # stop it: closing its connection ends its blocking read
            with contextlib.suppress(Exception):
                thread.stop()
            with contextlib.suppress(Exception):
                self.pubsub.close()


def build_worker(services: Services, queue_names: Sequence[str], name: str | None = None) -> SimpleWorker:
    connection = services.redis
    return VigieWorker([Queue(q, connection=connection) for q in queue_names], connection=connection,
                       name=name or worker_name(queue_names), default_result_ttl=queues.RESULT_TTL_S,
                       worker_ttl=queues.WORKER_TTL_S, job_class=ServicesJob.bind(services))


def start_reconciler(services: Services, stop: threading.Event) -> threading.Thread:
    """Every ``reconcile_interval_s``, one worker (whichever takes the Redis lock) re-queues orphaned comments and
    deliveries that were never queued."""
    interval = services.settings.reconcile_interval_s

    def loop() -> None:
        while True:  # once at start (a restarted worker picks up what its predecessor left), then periodically
            try:
                reconcile.reconcile_if_due(services, interval)
            except Exception:
                log.warning("reconciler run failed; will try again", exc_info=True)
            try:
                erasure.purge_if_due(services)  # VIGIE_RETENTION_DAYS: at most hourly across all workers
            except Exception:
                log.warning("retention run failed; will try again", exc_info=True)
            if stop.wait(interval):
                return

    thread = threading.Thread(target=loop, name="vigie-reconciler", daemon=True)
    thread.start()
    return thread


SCHEDULER_INTERVAL_S = 1  # seconds; an int: rq passes interval + 60 to Redis as a lock TTL
SCHEDULER_LOCK_RETRY_S = 15.0


def start_scheduler(connection, queue_names: Sequence[str], stop: threading.Event) -> threading.Thread:
    """rq's scheduler (job retries with back-off, delayed webhook deliveries) as a thread of this process rather
    than rq's forked child. A forked scheduler inherits the worker's open database connections (and its model's
    memory), and outlives a SIGKILLed worker as an orphan that keeps the dead worker's transaction open. A thread
    dies with its worker; the scheduler lock it held expires (rq: interval + 60 s) and another worker's thread
    takes it over. Redis errors are logged and retried, never fatal."""
    scheduler = RQScheduler(list(queue_names), connection=connection, interval=SCHEDULER_INTERVAL_S,
                            logging_level=logging.getLogger("rq.scheduler").getEffectiveLevel())  # as configured

    def loop() -> None:
        next_lock_try = 0.0
        while not stop.is_set():
            try:
                now = time.monotonic()
                if scheduler.acquired_locks != set(queue_names) and now >= next_lock_try:
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


def start_alive_beat(services: Services, current: dict[str, str], stop: threading.Event,
                     publish_key: bool = False) -> threading.Thread:
    """Every ``queues.ALIVE_BEAT_S``, record that this process (its current rq worker name) is alive, whatever its
    work loop is doing: the reconciler re-queues the ids held by a worker that stopped beating. A model worker also
    republishes its key for sealed requests (core/sealing.py), back within seconds after Redis lost its data."""

    def loop() -> None:
        while not stop.is_set():
            try:
                if publish_key:
                    runtime.worker_key().publish(services.redis)
                queues.beat_alive(services.redis, current["name"])
            except Exception:
                log.debug("alive beat failed (Redis unreachable?)", exc_info=True)
            stop.wait(queues.ALIVE_BEAT_S)

    thread = threading.Thread(target=loop, name="vigie-alive", daemon=True)
    thread.start()
    return thread


RESTART_WAIT_MAX_S = 30


def stop_requested(worker: SimpleWorker) -> bool:
    """Whether a signal asked this rq worker to stop (warm shutdown). rq sets ``_stop_requested`` only when the
    signal arrives during a job; an idle worker's loop ends on ``StopRequested`` with only its
    ``_shutdown_requested_date`` set, which must not read as an error to restart after."""
    return bool(worker._stop_requested or worker._shutdown_requested_date is not None)


def run(settings: Settings, queue_names: Iterable[str] | None = None, burst: bool = False,
        with_scheduler: bool = True, reconcile_periodically: bool = True) -> bool:
    """Run a worker until stopped (or, with ``burst``, until its queues are empty). rq's work loop quits on an
    error it does not handle (Redis restarting under a job, a Redis timeout): this process then starts a fresh one
    (a new worker name, back-off 1 s to 30 s) instead of exiting, so a Redis blip never needs a human."""
    names = queues.queue_names(queue_names)
    metrics.enable(settings)  # counters in the shared multiprocess directory (core/metrics.py)
    if settings.worker_metrics_port and not burst:
        metrics.serve(settings.worker_metrics_port)
    services = build(settings, redis=connect_worker(settings))
    if queues.MODEL_QUEUES.intersection(names):
        started = time.monotonic()
        scorer = runtime.get_scorer(settings)  # load before the first heartbeat: a live worker is ready to score
        scorer.predict(["Merci pour cet article."])  # the first forward pass is slow: not on a caller's clock
        scorer.pace = sync_jobs.SyncLane(services)  # long work answers the sync requests between its slices
        log.info("model loaded in %.1f s; listening on %s", time.monotonic() - started, ", ".join(names))
    else:
        log.info("listening on %s (no model)", ", ".join(names))
    stop = threading.Event()
    current = {"name": worker_name(names)}
    if reconcile_periodically and not burst:
        start_reconciler(services, stop)
        start_alive_beat(services, current, stop, publish_key=bool(queues.MODEL_QUEUES.intersection(names)))
    if with_scheduler and not burst:
        start_scheduler(services.redis, names, stop)
    wait = 1.0
    try:
        while True:
            worker = build_worker(services, names, name=current["name"])
            started = time.monotonic()
            try:
                worked = worker.work(burst=burst, with_scheduler=False, logging_level=rq_log_level(settings.log_level),
                                     log_format=LOG_FORMAT)
            except (RedisConnectionError, RedisTimeoutError):  # e.g. in rq's bootstrap while Redis is away
                log.warning("the work loop stopped: Redis unreachable", exc_info=True)
                worked = False
            except Exception:  # any other error out of rq's bootstrap or teardown: a new loop, never an exit
                log.warning("the work loop stopped on an unexpected error", exc_info=True)
                worked = False
            if burst or stop_requested(worker):
                return worked
            if time.monotonic() - started > 60:
                wait = 1.0
            log.warning("the work loop stopped on an error; listening again in %.0f s", wait)
            time.sleep(wait)
            if stop_requested(worker):
                return worked
            wait = min(wait * 2, RESTART_WAIT_MAX_S)
            current["name"] = worker_name(names)  # rq refuses a name whose registration may still stand
    finally:
        stop.set()
        metrics.mark_dead(os.getpid())


def run_burst(services: Services, queue_names: Iterable[str] | None = None, raise_failures: bool = True) -> int:
    """Run every queued job in this process with ``services`` until the queues are empty (tests, and
    ``vigie worker --burst``). The model is the one ``workers.runtime`` holds. Returns the number of failed jobs;
    with ``raise_failures`` a job failure raises with the job's traceback."""
    connection = services.redis
    names = queues.queue_names(queue_names)
    registries = [FailedJobRegistry(name, connection=connection) for name in names]
    before = {job_id for r in registries for job_id in r.get_job_ids()}
    worker = build_worker(services, names, name=f"vigie-burst-{uuid.uuid4().hex[:8]}")
    worker.work(burst=True, with_scheduler=False, logging_level="WARNING")
    failed = [job_id for r in registries for job_id in r.get_job_ids() if job_id not in before]
    if failed and raise_failures:
        details = []
        for job_id in failed:
            job = Job.fetch(job_id, connection=connection)
            result = job.latest_result()
            details.append(f"{job.func_name}({job_id}):\n{result.exc_string if result else ''}")
        raise RuntimeError("job(s) failed in burst run:\n" + "\n".join(details))
    return len(failed)
