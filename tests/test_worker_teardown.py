"""A Redis error while rq tears a work loop down (Redis restarting: connection errors, a protocol error on the
pubsub connection another thread is reconnecting) never ends the worker process, and never leaves rq's pubsub
thread behind retrying for ever (issue 10, the process restart seen in the chaos suite's redis-restart)."""
from __future__ import annotations

import redis.exceptions
from rq.worker import BaseWorker

from workers.worker import build_worker


def test_teardown_survives_redis_errors_and_stops_the_pubsub_thread(app, monkeypatch):
    worker = build_worker(app.extensions["vigie"], ["vigie-sync"])
    worker.register_birth()
    worker.subscribe()
    thread = worker.pubsub_thread
    assert thread.is_alive()

    def broken(*args, **kwargs):
        raise redis.exceptions.InvalidResponse("Protocol Error: the connection was reset under a reader")

    monkeypatch.setattr(BaseWorker, "register_death", broken)
    monkeypatch.setattr(worker.pubsub, "unsubscribe", broken)
    worker.teardown()  # raises nothing
    thread.join(30)
    assert not thread.is_alive()
