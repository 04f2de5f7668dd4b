"""With no worker answering in time, the synchronous integrations degrade the way their callers expect:
Perspective clients get 503 UNAVAILABLE, Coral gets 204 (no opinion) and its comment is still decided later."""
from __future__ import annotations

import json

from sqlalchemy import func, select

from core.queues import PENDING_KEY
from core.storage.models import Comment
from tests.integration_support import coral_signed
from tests.test_coral import BENIGN, TOXIC, moderation_request


def test_perspective_answers_503_when_no_worker_scores_in_time(client, site, db, settings, monkeypatch):
    monkeypatch.setattr(settings, "sync_timeout_ms", 150)
    body = {"comment": {"text": BENIGN}, "requestedAttributes": {"TOXICITY": {}}, "languages": ["fr"],
            "doNotStore": True}
    response = client.post(f"/v1alpha1/comments:analyze?key={site.api_key}", json=body)
    assert response.status_code == 503
    error = response.get_json()["error"]
    assert error["code"] == 503 and error["status"] == "UNAVAILABLE"
    assert db.scalar(select(func.count()).select_from(Comment)) == 0
    assert b"imb" not in json.dumps([k.decode() for k in
                                     client.application.extensions["vigie"].redis.keys()]).encode()


def test_coral_gets_no_opinion_and_the_comment_is_decided_later(client, site, db, app, settings, monkeypatch,
                                                               work):
    monkeypatch.setattr(settings, "coral_timeout_ms", 150)
    body, headers = coral_signed([site.secret], moderation_request(TOXIC))
    response = client.post(f"/integrations/coral/{site.slug}", data=body, headers=headers)
    assert response.status_code == 204 and response.get_data() == b""
    comment = db.scalars(select(Comment)).one()
    assert comment.status == "pending" and comment.source == "coral"
    assert app.extensions["vigie"].redis.zscore(PENDING_KEY, str(comment.id)) is not None
    work()  # the normal queue decides it
    db.expire_all()
    assert db.get(Comment, comment.id).status in ("flagged", "rejected")
