"""Prometheus metrics (prometheus-client in multiprocess mode), shared by the web and the workers.

Every Vigie process that records figures calls ``enable(settings)`` first (``create_app``, ``vigie worker``): it
points ``PROMETHEUS_MULTIPROC_DIR`` at ``VIGIE_METRICS_DIR`` (default ``<data_dir>/metrics``), so each process
writes its counters and histograms to its own memory-mapped files there; ``vigie web`` and ``vigie up`` empty the
directory when they start (``clean_dir``), gunicorn's ``child_exit`` hook and a stopping worker mark their process
dead (``mark_dead``). ``/metrics`` (service/metrics.py) merges every file of the directory, so workers on the same
host as the web are included; the queue figures (depth, oldest pending comment, live workers) are computed from
Redis and the database at scrape time (``QueueCollector``), whichever host the workers are on. A worker on another
host serves its own counters with ``VIGIE_WORKER_METRICS_PORT``.

Recording helpers never raise: a metrics problem must not fail a comment. Counters of things that happen inside
a transaction (decisions) are counted only once it commits (``count_after_commit``)."""
from __future__ import annotations

import logging
import os
import shutil
import time
from datetime import timezone
from pathlib import Path
from typing import Any, Callable

from sqlalchemy import event, func, select
from sqlalchemy.orm import Session

from core.settings import Settings

log = logging.getLogger(__name__)
_AFTER_COMMIT = "vigie_metrics_after_commit"

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
DECISION_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 1800.0, 3600.0)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512)

_state: dict[str, Any] = {"dir": None, "metrics": None}


def metrics_dir(settings: Settings) -> Path:
    return Path(settings.metrics_dir or settings.data_dir / "metrics").resolve()


def clean_dir(path: Path) -> None:
    """Empty the multiprocess directory (at the start of ``vigie web`` / ``vigie up``: files of processes from a
    previous run would add stale figures)."""
    path.mkdir(parents=True, exist_ok=True)
    own = f"_{os.getpid()}.db"  # this process's own files are live, not stale (it may have counted already)
    for child in path.iterdir():
        if child.suffix == ".db" and child.is_file() and not child.name.endswith(own):
            child.unlink(missing_ok=True)
        elif child.is_dir():
            shutil.rmtree(child, ignore_errors=True)


def enable(settings: Settings) -> Path:
    """Record this process's metrics under the settings' metrics directory. A process has one set of settings;
    should a later call name another directory (several apps in one test process), the figures follow it."""
    path = metrics_dir(settings)
    if _state["dir"] == path:
        return path
    path.mkdir(parents=True, exist_ok=True)
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(path)
    from prometheus_client import values

    values.ValueClass = values.get_value_class()  # multiprocess values, even if prometheus_client was imported
    _state["dir"] = path
    _state["metrics"] = None  # made again over the new value class (they are in no registry: see _Metrics)
    _metrics()  # the families exist from the start (an unlabelled counter shows 0 before it first moves)
    return path


def child_env(settings: Settings) -> dict[str, str]:
    """What a child process needs to share this metrics directory."""
    return {"PROMETHEUS_MULTIPROC_DIR": str(metrics_dir(settings))}


def mark_dead(pid: int) -> None:
    """A process of the directory stopped (gunicorn's child_exit, a worker's exit): its live gauges go."""
    try:
        if _state["dir"] is not None or os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
            from prometheus_client import multiprocess

            multiprocess.mark_process_dead(pid)
    except Exception:
        log.debug("could not mark process %s dead for metrics", pid, exc_info=True)


class _Metrics:
    def __init__(self) -> None:
        from functools import partial

        import prometheus_client

        # In no registry: /metrics reads every process's files (MultiProcessCollector), and enable() may make
        # them again over another directory.
        Counter = partial(prometheus_client.Counter, registry=None)
        Histogram = partial(prometheus_client.Histogram, registry=None)

        self.received = Counter("vigie_comments_received", "Comments accepted (stored as pending), by source.",
                                ["source"])
        self.decided = Counter("vigie_comments_decided", "Decisions recorded (model, rule or moderator), by new "
                               "status, comment source and actor.", ["status", "source", "actor"])
        self.time_to_decision = Histogram("vigie_time_to_decision_seconds", "From a comment's arrival to its first "
                                          "decision, by source.", ["source"], buckets=DECISION_BUCKETS)
        self.batch_size = Histogram("vigie_batch_size", "Comments per forward pass, by kind (batch: queued "
                                    "comments, sync: Perspective/Coral texts).", ["kind"], buckets=BATCH_BUCKETS)
        self.model_latency = Histogram("vigie_model_latency_seconds", "Duration of one forward pass, by kind.",
                                       ["kind"], buckets=LATENCY_BUCKETS)
        self.heartbeats = Counter("vigie_worker_heartbeats", "Heartbeats of listening model workers.")
        self.deliveries = Counter("vigie_webhook_deliveries", "Webhook delivery attempts by outcome (delivered, "
                                  "retry, failed, refused).", ["outcome"])
        self.sync = Counter("vigie_sync_requests", "Synchronous scoring requests (Perspective, Coral) by outcome "
                            "(answered, timeout, unavailable, error, too_long).", ["outcome"])
        self.erased = Counter("vigie_comments_erased", "Comments whose text and author were erased, by reason "
                              "(erasure, retention).", ["reason"])


def _metrics() -> _Metrics | None:
    if _state["metrics"] is None:
        if _state["dir"] is None and not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
            return None  # a process that never enabled metrics (a CLI command) records nothing
        _state["metrics"] = _Metrics()
    return _state["metrics"]


def _safe(action: Callable[[_Metrics], None]) -> None:
    try:
        metrics = _metrics()
        if metrics is not None:
            action(metrics)
    except Exception:
        log.debug("metrics update failed", exc_info=True)


# ------------------------------------------------------------------------------------------------ recording
def received(source: str, count: int = 1) -> None:
    if count:
        _safe(lambda m: m.received.labels(source=source).inc(count))


def decided(status: str, source: str, actor: str, waited_s: float | None) -> None:
    def record(m: _Metrics) -> None:
        m.decided.labels(status=status, source=source, actor=actor).inc()
        if waited_s is not None:
            m.time_to_decision.labels(source=source).observe(max(0.0, waited_s))
    _safe(record)


def forward_pass(kind: str, size: int, seconds: float) -> None:
    def record(m: _Metrics) -> None:
        m.batch_size.labels(kind=kind).observe(size)
        m.model_latency.labels(kind=kind).observe(seconds)
    _safe(record)


def heartbeat() -> None:
    _safe(lambda m: m.heartbeats.inc())


def delivery(outcome: str) -> None:
    _safe(lambda m: m.deliveries.labels(outcome=outcome).inc())


def sync_request(outcome: str) -> None:
    _safe(lambda m: m.sync.labels(outcome=outcome).inc())


def erased(reason: str, count: int) -> None:
    if count:
        _safe(lambda m: m.erased.labels(reason=reason).inc(count))


def count_after_commit(session: Session, record: Callable[[], None]) -> None:
    """Run ``record`` once the session's transaction commits (never if it rolls back)."""
    pending = session.info.setdefault(_AFTER_COMMIT, [])
    if not pending and not event.contains(session, "after_commit", _run_pending):
        event.listen(session, "after_commit", _run_pending)
        event.listen(session, "after_rollback", _drop_pending)
    pending.append(record)


def _run_pending(session: Session) -> None:
    for record in session.info.pop(_AFTER_COMMIT, []):
        record()


def _drop_pending(session: Session) -> None:
    session.info.pop(_AFTER_COMMIT, None)


# ------------------------------------------------------------------------------------------------ scraping
class QueueCollector:
    """Figures computed at scrape time from Redis and the database: queue depths, the oldest pending comment,
    live workers. A part that does not answer is left out (and ``vigie_scrape_error`` says which)."""

    def __init__(self, services) -> None:
        self.services = services

    def collect(self):
        from prometheus_client.core import GaugeMetricFamily

        from core import queues
        from core.storage.models import Comment
        from core.vocabulary import Status

        errors = GaugeMetricFamily("vigie_scrape_error", "1 when a part could not be read at this scrape.",
                                   labels=["part"])
        redis = self.services.redis
        try:
            pipe = redis.pipeline(transaction=False)
            pipe.zcard(queues.PENDING_KEY)
            pipe.zcard(queues.INFLIGHT_KEY)
            for name in queues.ALL_QUEUES:
                pipe.llen(f"rq:queue:{name}")
            pipe.zrangebyscore(queues.WORKERS_KEY, time.time() - queues.WORKER_LIVE_S, "+inf", withscores=True)
            pipe.zrangebyscore(queues.ALIVE_KEY, time.time() - queues.ALIVE_STALE_S, "+inf")
            answers = pipe.execute()
            depth = GaugeMetricFamily("vigie_queue_depth", "Comment ids waiting for a drain job (pending) or held "
                                      "by one (inflight), in Redis.", labels=["state"])
            depth.add_metric(["pending"], answers[0])
            depth.add_metric(["inflight"], answers[1])
            yield depth
            jobs = GaugeMetricFamily("vigie_rq_jobs_queued", "Jobs waiting on each rq queue.", labels=["queue"])
            for name, count in zip(queues.ALL_QUEUES, answers[2:2 + len(queues.ALL_QUEUES)]):
                jobs.add_metric([name], count)
            yield jobs
            live = answers[-2]
            yield GaugeMetricFamily("vigie_workers_live", "Model workers heard from within the liveness window.",
                                    value=len(live))
            yield GaugeMetricFamily("vigie_worker_processes_alive", "Worker processes (model and webhooks) "
                                    "beating within the alive window.", value=len(answers[-1]))
            if live:
                newest = max(score for _, score in live)
                yield GaugeMetricFamily("vigie_worker_heartbeat_age_seconds", "Seconds since the most recent "
                                        "model worker heartbeat.", value=max(0.0, time.time() - newest))
            errors.add_metric(["redis"], 0)
        except Exception:
            log.debug("metrics: Redis unreadable at scrape", exc_info=True)
            errors.add_metric(["redis"], 1)
        try:
            with self.services.db.sessionmaker() as session:
                count, oldest = session.execute(select(func.count(Comment.id), func.min(Comment.received_at))
                                                .where(Comment.status == Status.pending.value)).one()
            yield GaugeMetricFamily("vigie_comments_pending", "Comments stored as pending in the database.",
                                    value=count)
            age = 0.0
            if oldest is not None:
                stamp = (oldest if oldest.tzinfo else oldest.replace(tzinfo=timezone.utc)).timestamp()
                age = max(0.0, time.time() - stamp)
            yield GaugeMetricFamily("vigie_oldest_pending_age_seconds", "Age of the oldest comment still pending "
                                    "(0 when none).", value=age)
            errors.add_metric(["database"], 0)
        except Exception:
            log.debug("metrics: database unreadable at scrape", exc_info=True)
            errors.add_metric(["database"], 1)
        yield errors


def exposition(services) -> tuple[bytes, str]:
    """The Prometheus text exposition of every process of the directory plus the scrape-time figures."""
    from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest, multiprocess

    registry = CollectorRegistry()
    path = _state["dir"] or os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if path:
        multiprocess.MultiProcessCollector(registry, path=str(path))
    registry.register(QueueCollector(services))
    return generate_latest(registry), CONTENT_TYPE_LATEST


def serve(port: int, host: str = "0.0.0.0") -> None:
    """Serve this host's multiprocess counters on ``port`` (a worker on another host than the web)."""
    from prometheus_client import CollectorRegistry, multiprocess, start_http_server

    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry, path=str(_state["dir"]))
    start_http_server(port, addr=host, registry=registry)
