"""A worker left idle longer than Redis's client socket timeout still hears the next comment at once.

redis-py 8's default socket timeout is 5 s; rq's blocking dequeue waits longer than that. A worker whose connection
times out before the dequeue does logs "could not connect to Redis" and backs off (1 s, 2 s, ... 60 s), so a comment
that arrives after some idle time waits up to a minute. This test idles a real ``vigie worker`` process past that
timeout, and past one full dequeue wait, then posts one comment. It also wipes Redis at the start of the idle
time (as a Redis that lost its data would be): readiness comes from the worker's own heartbeats, which it rewrites,
not from rq's registrations, which are gone for good.
"""
from __future__ import annotations

import time

from core import queues as queue

BENIGN = "Merci pour ce reportage, très instructif."
IDLE_S = 27  # > redis-py's 5 s socket timeout, and > one blocking dequeue wait (queue.DEQUEUE_TIMEOUT_S)


def test_idle_worker_decides_the_next_comment_without_backoff(client, site, live_worker):
    assert IDLE_S > queue.DEQUEUE_TIMEOUT_S + 5
    client.application.extensions["vigie"].redis.flushdb()  # Redis lost its data
    time.sleep(IDLE_S)
    web_redis = client.application.extensions["vigie"].redis
    timeout_before = web_redis.connection_pool.connection_kwargs["socket_timeout"]
    assert client.get("/readyz").status_code == 200, "an idle, listening worker keeps (or makes again) the service ready"
    assert web_redis.connection_pool.connection_kwargs["socket_timeout"] == timeout_before, \
        "readiness must not lengthen the web client's timeout (a hung Redis would then hold ingest for minutes)"

    posted = client.post("/api/v1/comments", json={"text": BENIGN}, headers=site.headers)
    assert posted.status_code == 202
    url = posted.get_json()["url"]
    deadline = time.monotonic() + 10  # a stalled worker backs off up to 60 s; a listening one decides in well under 1 s
    status = "pending"
    while status == "pending" and time.monotonic() < deadline:
        status = client.get(url, headers=site.headers).get_json()["status"]
        time.sleep(0.05)
    log = live_worker.log()
    assert status == "approved", log[-3000:]
    assert "could not connect to Redis" not in log, "the idle worker's connection timed out and rq backed off"
    assert "Error" not in log, log[-3000:]
