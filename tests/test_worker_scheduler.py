"""rq's scheduler runs inside the worker process, not as a forked child: a fork would inherit the worker's database
connections and survive a SIGKILLed worker as an orphan holding the dead worker's transaction open."""
from __future__ import annotations

import time
from datetime import timedelta

import psutil
from rq import Queue

from core import queues as queue
from tests.test_worker import accept


def test_scheduled_job_runs_and_worker_forks_no_scheduler(app, client, site, live_worker):
    redis = app.extensions["vigie"].redis
    [comment_id] = accept(app, site.id, ["Très bon papier, merci."], schedule=False)
    redis.zadd(queue.PENDING_KEY, {str(comment_id): time.time()})
    # A delayed job (as rq's retries with back-off and delayed deliveries are) must be moved to its queue by the
    # scheduler and run.
    Queue(queue.SCORE_QUEUE, connection=redis).enqueue_in(timedelta(seconds=1), queue.DRAIN_JOB)
    deadline = time.monotonic() + 15  # the reconciler would only step in after VIGIE_RECONCILE_MIN_AGE_S (30 s)
    status = "pending"
    while status == "pending" and time.monotonic() < deadline:
        status = client.get(f"/api/v1/comments/{comment_id}", headers=site.headers).get_json()["status"]
        time.sleep(0.1)
    assert status == "approved", live_worker.log()[-3000:]
    children = psutil.Process(live_worker.process.pid).children(recursive=True)
    assert children == [], f"the worker forked {children}: a child outlives a SIGKILLed worker"
