"""With no worker answering in time, the synchronous integrations degrade the way their callers expect:
Perspective clients get 503 UNAVAILABLE, Coral gets 204 (no opinion) and its comment is still decided later."""
from __future__ import annotations

import json

from sqlalchemy import func, select

from core.queues import PENDING_KEY
from core.storage.models import Comment
from tests.integration_support import coral_signed
from tests.test_coral import BENIGN, TOXIC, moderation_request


def redis_contents(redis) -> bytes:
    """Every key of the Redis database with its value (strings, lists, hashes, sets, sorted sets, streams)."""
    out = []
    for key in redis.scan_iter(count=1000):
        kind = redis.type(key).decode()
        if kind == "string":
            value = [redis.get(key)]
        elif kind == "list":
            value = redis.lrange(key, 0, -1)
        elif kind == "hash":
            value = [part for pair in redis.hgetall(key).items() for part in pair]
        elif kind == "set":
            value = list(redis.smembers(key))
        elif kind == "zset":
            value = redis.zrange(key, 0, -1)
        elif kind == "stream":
            value = [json.dumps(entry, default=repr).encode() for entry in redis.xrange(key)]
        else:
            value = []
        out.append(key + b"=" + b"|".join(v or b"" for v in value))
    return b"\n".join(out)


def holds(contents: bytes, text: str) -> bool:
    """Whether ``text`` is in ``contents`` as UTF-8 or JSON-escaped (how a request's texts are written)."""
    return text.encode() in contents or json.dumps(text)[1:-1].encode() in contents


def test_redis_contents_sees_values(app):
    redis = app.extensions["vigie"].redis
    redis.set("vigie:probe", json.dumps({"texts": [BENIGN]}))
    redis.rpush("vigie:probe-list", BENIGN)
    contents = redis_contents(redis)
    assert holds(contents, BENIGN) and contents.count(b"vigie:probe") == 2


def test_perspective_answers_503_when_no_worker_scores_in_time(client, site, db, settings, monkeypatch):
    monkeypatch.setattr(settings, "sync_timeout_ms", 150)
    body = {"comment": {"text": BENIGN}, "requestedAttributes": {"TOXICITY": {}}, "languages": ["fr"],
            "doNotStore": True}
    response = client.post(f"/v1alpha1/comments:analyze?key={site.api_key}", json=body)
    assert response.status_code == 503
    error = response.get_json()["error"]
    assert error["code"] == 503 and error["status"] == "UNAVAILABLE"
    assert db.scalar(select(func.count()).select_from(Comment)) == 0
    # doNotStore: the withdrawn request leaves the text nowhere in Redis (keys or values; rq's job holds only an id)
    assert not holds(redis_contents(client.application.extensions["vigie"].redis), BENIGN)


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
