"""Long comments never starve synchronous scoring (issue 11, item 6): a 20 KB comment (Perspective's limit) is
scored in slices with the sync requests answered in between, a sync request is given up at its deadline instead of
holding the worker, and a text's score is always the maximum over all its windows."""
from __future__ import annotations

import csv
import json
import time
from pathlib import Path

from sqlalchemy import select

from core.queues import INFLIGHT_KEY, SYNC_PENDING_LIST, SYNC_REQUEST_KEY, SYNC_RESULT_KEY
from core.storage.models import Comment
from workers import sync_jobs
from workers.model.scorer import plan_batches

BENIGN = "Merci pour cet article très clair, j'ai appris beaucoup de choses."
DATA = Path(__file__).resolve().parent.parent / "data" / "dev.csv"


def long_text(offset: int = 0, size: int = 20_000) -> str:
    """A French comment of ``size`` bytes made of real comments (different for each ``offset``)."""
    with DATA.open(newline="", encoding="utf-8") as fh:
        texts = [row["text"] for row in csv.DictReader(fh)][offset:offset + 400]
    return " ".join(texts).encode()[:size].decode(errors="ignore")


def analyze(client, site, text: str):
    body = {"comment": {"text": text}, "requestedAttributes": {"TOXICITY": {}}, "languages": ["fr"],
            "doNotStore": True}
    return client.post(f"/v1alpha1/comments:analyze?key={site.api_key}", json=body)


def test_plan_batches_keeps_each_forward_pass_within_the_token_cap():
    lengths = [128] * 60 + [20] * 10
    batches = plan_batches(lengths, 32, max_tokens=256)
    assert sorted(int(i) for b in batches for i in b) == list(range(70))
    assert all(len(b) * max(lengths[i] for i in b) <= 256 for b in batches)
    assert max(len(b) for b in plan_batches(lengths, 32)) == 32  # no cap: full batches


def test_sync_scores_are_the_maximum_over_every_window(app, scorer):
    svc = app.extensions["vigie"]
    text = long_text(size=3000)  # several windows
    assert len(scorer.windows([text])[0]) > 3
    svc.redis.set(SYNC_REQUEST_KEY + "r1", json.dumps({"texts": [text, BENIGN], "deadline": time.time() + 600}))
    svc.redis.rpush(SYNC_PENDING_LIST, "r1")
    sync_jobs.serve(svc)
    answer = json.loads(svc.redis.lpop(SYNC_RESULT_KEY + "r1"))
    expected = scorer.predict([text, BENIGN])
    for got, want in zip(answer["scores"], expected):
        assert got.keys() == want.keys()
        assert all(abs(got[k] - want[k]) < 1e-4 for k in want)


def test_a_long_sync_request_is_given_up_at_its_deadline_and_short_ones_are_answered(app, scorer):
    """The deadline is checked between windows: a 20 KB text due in 300 ms is not scored to the end (its caller
    gets ``too_long`` or has gone), while the short request queued behind it gets its scores."""
    svc = app.extensions["vigie"]
    now = time.time()
    svc.redis.set(SYNC_REQUEST_KEY + "long", json.dumps({"texts": [long_text()], "deadline": now + 0.3}))
    svc.redis.set(SYNC_REQUEST_KEY + "short", json.dumps({"texts": [BENIGN], "deadline": now + 600}))
    svc.redis.rpush(SYNC_PENDING_LIST, "long", "short")
    counts = sync_jobs.serve(svc)
    assert counts["answered"] == 1 and counts["too_long"] + counts["expired"] == 1
    assert "scores" in json.loads(svc.redis.lpop(SYNC_RESULT_KEY + "short"))
    late = svc.redis.lpop(SYNC_RESULT_KEY + "long")
    assert late is None or json.loads(late)["error"] == "too_long"


def test_sync_lane_answers_waiting_requests_between_forward_passes(app, scorer, monkeypatch):
    """A drain's ``predict`` with the worker's pace: the sync request waiting is answered before the long text
    is done (at the first slice boundary)."""
    svc = app.extensions["vigie"]
    svc.redis.set(SYNC_REQUEST_KEY + "r2", json.dumps({"texts": [BENIGN], "deadline": time.time() + 600}))
    svc.redis.rpush(SYNC_PENDING_LIST, "r2")
    answered_during: list[bool] = []
    lane = sync_jobs.SyncLane(svc)
    between = lane.between

    def spy(tokens: int, seconds: float) -> None:
        between(tokens, seconds)
        answered_during.append(svc.redis.llen(SYNC_RESULT_KEY + "r2") == 1)

    monkeypatch.setattr(lane, "between", spy)
    monkeypatch.setattr(sync_jobs.speed, "last_sync", time.monotonic())  # sync traffic about: slices
    monkeypatch.setattr(scorer, "pace", lane)
    scorer.predict([long_text(size=4000)])
    assert len(answered_during) > 1 and answered_during[0]


def test_sync_calls_are_answered_while_a_worker_scores_20kb_comments(client, site, db, settings, monkeypatch,
                                                                    live_worker):
    """A real worker scoring a batch of 20 KB comments (minutes of model time on a 2-core machine) still answers
    Perspective calls: none gets 503 while the long comments are being scored."""
    monkeypatch.setattr(settings, "sync_timeout_ms", 20_000)  # a shared test machine: no race with the clock
    redis = client.application.extensions["vigie"].redis
    assert analyze(client, site, BENIGN).status_code == 200  # sync traffic about: the worker slices long work
    comments = [{"text": long_text(i * 50), "external_id": f"long-{i}"} for i in range(8)]
    posted = client.post("/api/v1/comments", json={"comments": comments}, headers=site.headers)
    assert posted.status_code == 202
    deadline = time.monotonic() + 120
    while not redis.zcard(INFLIGHT_KEY):  # a drain job holds them: scoring has started
        assert time.monotonic() < deadline, live_worker.log()[-3000:]
        time.sleep(0.1)
    statuses = [analyze(client, site, text).status_code for text in (BENIGN, "Quel imbécile, celui-là.", BENIGN)]
    db.expire_all()
    still_scoring = db.scalars(select(Comment).where(Comment.status == "pending")).all()
    assert statuses == [200, 200, 200], live_worker.log()[-3000:]
    assert still_scoring  # the answers came while the long comments were being scored
