"""An accepted comment is never lost: Redis down at ingest, a worker dying with comments in hand, scoring failures."""
from __future__ import annotations

import time

import pytest
from redis import Redis
from rq.registry import ScheduledJobRegistry
from sqlalchemy import select

from core import queues as queue
from core import reconcile as core_reconcile
from core.storage.models import Comment
from workers import jobs, runtime

TEXT = "Je ne suis pas d'accord avec l'auteur, mais l'article est bien documenté."


@pytest.fixture
def redis(app):
    return app.extensions["vigie"].redis


@pytest.fixture
def reconcile(app):
    """One reconciler run with the app's services (as ``vigie reconcile`` or a worker's reconciler thread)."""
    return lambda min_age_s=None: core_reconcile.reconcile(app.extensions["vigie"], min_age_s)


def status_of(db, comment_id: int) -> str:
    db.expire_all()
    return db.get(Comment, comment_id).status


def test_comment_accepted_while_redis_is_down_is_decided_later(app, client, site, work, db, redis, monkeypatch,
                                                               reconcile):
    unreachable = Redis(host="127.0.0.1", port=1, socket_connect_timeout=0.5, socket_timeout=0.5)
    monkeypatch.setattr(app.extensions["vigie"], "redis", unreachable)
    response = client.post("/api/v1/comments", json={"text": TEXT}, headers=site.headers)
    assert response.status_code == 202 and response.get_json()["queued"] is False
    comment_id = response.get_json()["id"]
    monkeypatch.undo()  # Redis is back

    work()
    assert status_of(db, comment_id) == "pending"  # no job held it
    assert reconcile(min_age_s=0) == 1
    work()
    assert status_of(db, comment_id) == "approved"
    assert reconcile(min_age_s=0) == 0


def test_reconciler_leaves_young_and_queued_comments_alone(client, site, work, redis, reconcile):
    client.post("/api/v1/comments", json={"text": TEXT}, headers=site.headers)
    assert reconcile(min_age_s=0) == 0  # already waiting in the queue
    redis.delete(queue.PENDING_KEY)
    assert reconcile(min_age_s=3600) == 0  # too young: the normal path may still be on it
    assert reconcile(min_age_s=0) == 1


def test_comments_held_by_a_dead_worker_are_rescheduled(client, site, work, db, redis, settings, reconcile):
    ids = [client.post("/api/v1/comments", json={"text": TEXT}, headers=site.headers).get_json()["id"]
           for _ in range(3)]
    assert jobs.take(redis, 10) == ids  # a worker took them... and died before deciding
    assert reconcile(min_age_s=0) == 0  # held by a job younger than the job timeout
    redis.zadd(queue.INFLIGHT_KEY, {str(i): time.time() - settings.job_timeout_s - 1 for i in ids})
    assert reconcile(min_age_s=0) == 3
    work()
    assert [status_of(db, i) for i in ids] == ["approved"] * 3


def test_comments_held_by_a_killed_worker_are_rescheduled_once_it_stops_beating(client, site, work, db, redis,
                                                                                  reconcile):
    """A SIGKILLed worker cannot release what it holds: its process stops beating, and that is enough (within
    ALIVE_STALE_S), without waiting for the job timeout. A live holder keeps its ids."""
    ids = [client.post("/api/v1/comments", json={"text": TEXT}, headers=site.headers).get_json()["id"]
           for _ in range(2)]
    queue.beat_alive(redis, "vigie-model-alive")
    assert jobs.take(redis, 1, owner="vigie-model-alive") == ids[:1]
    redis.zadd(queue.ALIVE_KEY, {"vigie-model-killed": time.time() - queue.ALIVE_STALE_S - 1})  # its last beat
    assert jobs.take(redis, 1, owner="vigie-model-killed") == ids[1:]
    assert reconcile(min_age_s=0) == 1  # the killed worker's comment, at once; the live worker keeps its own
    assert queue.pending_count(redis) == 1
    work()
    assert status_of(db, ids[1]) == "approved" and status_of(db, ids[0]) == "pending"


def test_a_lost_drain_job_is_replaced(client, site, work, db, redis, reconcile):
    comment_id = client.post("/api/v1/comments", json={"text": TEXT}, headers=site.headers).get_json()["id"]
    queue.queue(queue.SCORE_QUEUE, redis).empty()  # the job vanished (worker killed); the id is still queued
    reconcile(min_age_s=0)
    work()
    assert status_of(db, comment_id) == "approved"


class FailingScorer:
    name, version, threshold = "broken", "0", 0.5

    def predict(self, texts):
        raise RuntimeError("model crashed")


def test_scoring_failure_keeps_the_comment_and_retries_with_backoff(client, site, work, db, redis, scorer,
                                                                   reconcile):
    comment_id = client.post("/api/v1/comments", json={"text": TEXT}, headers=site.headers).get_json()["id"]
    runtime.set_scorer(FailingScorer())
    try:
        assert work(queues=["score"], raise_failures=False) == 0  # not failed yet: scheduled for a retry
    finally:
        runtime.set_scorer(scorer)
    assert status_of(db, comment_id) == "pending"
    assert queue.pending_count(redis) == 1  # back in the queue, not lost
    assert len(ScheduledJobRegistry(queue.SCORE_QUEUE, connection=redis)) == 1  # retried later (backoff)
    reconcile(min_age_s=0)  # or the scheduler's retry: either way the comment gets decided
    work()
    assert status_of(db, comment_id) == "approved"
    assert db.scalars(select(Comment.status)).all() == ["approved"]


def test_worker_reconciler_thread_requeues_at_start_once_per_interval(app, client, site, work, db, redis):
    import threading
    from dataclasses import replace

    from workers.worker import start_reconciler

    comment_id = client.post("/api/v1/comments", json={"text": TEXT}, headers=site.headers).get_json()["id"]
    redis.flushdb()  # Redis lost everything (no persistence, a new server)
    settings = app.extensions["vigie"].settings.model_copy(update={"reconcile_min_age_s": 0,
                                                                    "reconcile_interval_s": 60})
    services = replace(app.extensions["vigie"], settings=settings)
    stop = threading.Event()
    thread = start_reconciler(services, stop)
    deadline = time.monotonic() + 10
    while not queue.pending_count(redis) and time.monotonic() < deadline:
        time.sleep(0.05)
    stop.set()
    thread.join(5)
    assert queue.pending_count(redis) == 1
    assert core_reconcile.reconcile_if_due(services, 60) is None  # another worker within the interval: nothing
    work()
    assert status_of(db, comment_id) == "approved"


def test_an_unreachable_database_is_a_503_with_retry_after_on_every_surface(settings, tmp_path):
    """Not a 500: nothing is wrong with the request, the client should retry (the OpenAPI document says 503)."""
    from core.settings import Settings
    from service.app import create_app

    down = create_app(Settings(data_dir=settings.data_dir, redis_url=settings.redis_url, secret_key="test-secret",
                               database_url=f"sqlite:///{tmp_path}/no/such/folder/vigie.db", api_rate_limit="off"))
    client = down.test_client()
    bearer = {"Authorization": "Bearer vg_" + "x" * 43}
    for response in (client.get("/api/v1/comments", headers=bearer),
                     client.post("/api/v1/comments", json={"text": "Bonjour"}, headers=bearer),
                     client.get("/api/v1/webhook-deliveries", headers=bearer),
                     client.post("/webhooks/lemonde", json={"text": "Bonjour"}),
                     client.post("/integrations/coral/lemonde", json={})):
        assert response.status_code == 503, (response.request.path, response.get_data(as_text=True))
        assert response.get_json()["error"]["code"] == "unavailable"
        assert int(response.headers["Retry-After"]) > 0
    perspective = client.post("/v1alpha1/comments:analyze?key=vg_x", json={"comment": {"text": "Bonjour"},
                                                                         "requestedAttributes": {"TOXICITY": {}}})
    assert perspective.status_code == 503 and perspective.get_json()["error"]["status"] == "UNAVAILABLE"
    assert int(perspective.headers["Retry-After"]) > 0
