"""The scoring worker: batches, one decision per comment, per-site policy, a real worker process."""
from __future__ import annotations

import time

from sqlalchemy import func, select

from core import ingest, queues as queue
from core.storage.models import AuditEntry, Comment, ModelResult, Site
from workers import jobs, runtime

BENIGN = "Merci pour cet article, très intéressant."
TOXIC = "Ferme ta gueule, espèce de connard de merde, tu mérites de crever."


def accept(app, site_id: int, texts: list[str], schedule: bool = True) -> list[int]:
    """Accept comments the way every ingest path does (stored pending, then scheduled)."""
    vigie = app.extensions["vigie"]
    with vigie.db.session() as session:
        site = session.get(Site, site_id)
        stored = ingest.store(session, site, [ingest.CommentIn(text=t) for t in texts], "api")
        ids = [c.id for c, _ in stored]
    if schedule:
        ingest.schedule(vigie, ids)
    return ids


class RecordingScorer:
    """The real scorer, recording the size of each forward pass (a spy, not a stand-in)."""

    def __init__(self, scorer):
        self.scorer, self.batches = scorer, []
        self.name, self.version, self.threshold = scorer.name, scorer.version, scorer.threshold

    def predict(self, texts):
        self.batches.append(len(texts))
        return self.scorer.predict(texts)

    def explain(self, text, label="toxicity", top_k=5):
        return self.scorer.explain(text, label=label, top_k=top_k)


def test_queued_comments_are_scored_in_batches_of_batch_size(app, site, work, scorer, db, settings):
    spy = RecordingScorer(scorer)
    runtime.set_scorer(spy)
    try:
        ids = accept(app, site.id, [f"Commentaire {i} : merci pour ce reportage." for i in range(settings.batch_size + 8)])
        work()
    finally:
        runtime.set_scorer(scorer)
    assert sorted(spy.batches, reverse=True) == [settings.batch_size, 8]
    statuses = db.scalars(select(Comment.status).where(Comment.id.in_(ids))).all()
    assert len(statuses) == len(ids) and "pending" not in statuses
    assert queue.pending_count(app.extensions["vigie"].redis) == 0


def test_scoring_twice_still_gives_one_result_and_one_decision(app, site, work, scorer, db):
    [comment_id] = accept(app, site.id, [TOXIC])
    work()
    vigie = app.extensions["vigie"]
    # A worker that crashed after scoring is replayed: the comment is no longer pending, nothing changes.
    assert jobs.score_comments(vigie, [comment_id]) == (0, [])
    assert db.scalar(select(func.count()).select_from(ModelResult)) == 1
    assert db.scalar(select(func.count()).select_from(AuditEntry).where(AuditEntry.comment_id == comment_id)) == 1


def test_site_policy_decides_with_reasons(app, site, work, db):
    with app.extensions["vigie"].db.session() as session:
        stored = session.get(Site, site.id)
        stored.policy = {**stored.policy, "words": {"banned": ["pourriture"], "suspect": [], "allowed": []},
                         "thresholds": {**stored.policy["thresholds"], "toxicity": 0.99}}
    banned, benign = accept(app, site.id, ["Quelle p0urr1ture ce ministre", BENIGN])
    work()
    comment = db.get(Comment, banned)
    assert comment.status == "rejected" and comment.decided_by == "rule"
    entry = db.scalar(select(AuditEntry).where(AuditEntry.comment_id == banned))
    assert entry.reasons[0]["kind"] == "word" and entry.reasons[0]["term"] == "pourriture"
    assert db.get(Comment, benign).status == "approved"


def test_stored_result_has_scores_model_and_latency(app, site, work, db, scorer):
    [comment_id] = accept(app, site.id, [TOXIC])
    work(queues=["score"])
    comment = db.get(Comment, comment_id)
    result = comment.result
    assert set(result.scores) == set(scorer.labels)
    assert result.model_name == scorer.name and result.model_version == scorer.version
    assert result.latency_ms > 0 and comment.score == result.scores["toxicity"]
    assert comment.status == "flagged" and result.spans is None  # decided first; spans follow on vigie-explain
    work(queues=["explain"])
    db.refresh(result)
    assert result.spans and all(TOXIC[s["start"]:s["end"]] == s["text"] for s in result.spans)


def test_explanations_wait_while_comments_wait_for_a_decision(app, site, work, db):
    from rq.registry import ScheduledJobRegistry

    [flagged] = accept(app, site.id, [TOXIC])
    work(queues=["score"])
    [waiting] = accept(app, site.id, [BENIGN])  # arrives before the explanation runs
    assert jobs.explain(app.extensions["vigie"], [flagged]) == 0  # steps aside for the waiting comment...
    redis = app.extensions["vigie"].redis
    assert len(ScheduledJobRegistry(queue.EXPLAIN_QUEUE, connection=redis)) == 1  # ...and comes back later
    work()  # the waiting comment is decided, then the explanation queued after its decision runs
    assert db.get(Comment, waiting).status == "approved"
    db.expire_all()
    assert db.get(Comment, flagged).result.spans
    assert jobs.explain(app.extensions["vigie"], [flagged]) == 0  # the deferred copy finds the work done


def test_two_workers_share_a_backlog_without_scoring_a_comment_twice(app, site, work, scorer, db):
    import threading

    spy = RecordingScorer(scorer)
    runtime.set_scorer(spy)
    ids = accept(app, site.id, [f"Avis numéro {i} : l'article manque de sources." for i in range(48)])
    taken: list[int] = []

    def worker() -> None:  # what each worker process's drain jobs do, concurrently
        while (counts := jobs.drain(app.extensions["vigie"], limit=8))["taken"]:
            taken.append(counts["taken"])

    try:
        threads = [threading.Thread(target=worker) for _ in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
    finally:
        runtime.set_scorer(scorer)
    assert sum(taken) == 48 and sum(spy.batches) == 48, "every comment scored exactly once"
    assert db.scalar(select(func.count()).select_from(AuditEntry).where(AuditEntry.comment_id.in_(ids))) == 48
    assert "pending" not in db.scalars(select(Comment.status).where(Comment.id.in_(ids))).all()


def test_comment_posted_while_no_worker_runs_is_decided_once_one_starts(client, site, request):
    """The README's promise: a 202 is eventually decided. Posted with no worker; a real worker process starts."""
    assert client.get("/readyz").status_code == 503
    urls = [client.post("/api/v1/comments", json={"text": t}, headers=site.headers).get_json()["url"]
            for t in (BENIGN, TOXIC)]
    assert [client.get(u, headers=site.headers).get_json()["status"] for u in urls] == ["pending", "pending"]
    live_worker = request.getfixturevalue("live_worker")
    assert client.get("/readyz").status_code == 200
    deadline = time.monotonic() + 30
    comments = []
    while time.monotonic() < deadline:
        comments = [client.get(u, headers=site.headers).get_json() for u in urls]
        if all(c["status"] != "pending" and (c["status"] == "approved" or c["spans"]) for c in comments):
            break
        time.sleep(0.1)
    assert [c["status"] for c in comments] == ["approved", "flagged"], live_worker.log()[-3000:]
    assert comments[1]["spans"], "the worker also explains flagged comments"
