"""Signed generic webhook in: POST /webhooks/<site-slug> stores and queues a comment once, refuses anything not
signed by the site (bad, stale or replayed signature) without storing it, and names the bad field."""
from __future__ import annotations

import json
import time

from sqlalchemy import func, select

from core.queues import PENDING_KEY
from core.storage.models import Comment, Site
from tests.integration_support import Receiver, vigie_signed

COMMENT = {"text": "Franchement, cet article est une honte, l'auteur est un imbécile.", "external_id": "c-1",
           "author_id": "u-7", "author_name": "Jeanne", "thread_id": "story-42",
           "thread_url": "https://journal.example/story-42", "language": "fr"}


def _count(db) -> int:
    return db.scalar(select(func.count()).select_from(Comment))


def post(client, site, payload, secret=None, timestamp=None, headers=None):
    body, signed = vigie_signed(secret or site.secret, payload, timestamp)
    return client.post(f"/webhooks/{site.slug}", data=body, headers={**signed, **(headers or {})})


def test_signed_comment_is_stored_and_queued(client, site, db, app):
    response = post(client, site, COMMENT)
    assert response.status_code == 202
    body = response.get_json()
    assert body["status"] == "pending" and body["created"] is True
    comment = db.get(Comment, body["id"])
    assert comment.text == COMMENT["text"] and comment.source == "webhook"
    assert comment.thread_id == "story-42" and comment.author_name == "Jeanne"
    assert app.extensions["vigie"].redis.zscore(PENDING_KEY, str(comment.id)) is not None


def test_same_external_id_is_stored_once(client, site, db):
    now = int(time.time())
    first = post(client, site, COMMENT, timestamp=now).get_json()
    second = post(client, site, COMMENT, timestamp=now - 1)  # a retry, signed anew
    assert second.status_code == 202
    assert second.get_json()["id"] == first["id"] and second.get_json()["created"] is False
    assert _count(db) == 1


def test_rolled_secrets_any_site_secret_signs(client, site, db, app):
    with app.extensions["vigie"].db.session() as session:
        row = session.get(Site, site.id)
        row.signing_secrets = ["whsec_new", site.secret]
    assert post(client, site, COMMENT, secret=site.secret).status_code == 202
    assert post(client, site, {**COMMENT, "external_id": "c-2"}, secret="whsec_new").status_code == 202
    assert _count(db) == 2


def test_wrong_signature_is_refused_and_nothing_stored(client, site, db):
    response = post(client, site, COMMENT, secret="whsec_not-the-site-secret")
    assert response.status_code == 401
    assert response.get_json()["error"]["code"] == "invalid_signature"
    body = json.dumps(COMMENT).encode()
    assert client.post(f"/webhooks/{site.slug}", data=body).status_code == 401  # no header
    garbled = client.post(f"/webhooks/{site.slug}", data=body, headers={"X-Vigie-Signature": "nonsense"})
    assert garbled.status_code == 401
    assert _count(db) == 0


def test_body_changed_after_signing_is_refused(client, site, db):
    body, headers = vigie_signed(site.secret, COMMENT)
    tampered = body.replace(b"honte", b"merveille")
    assert tampered != body
    assert client.post(f"/webhooks/{site.slug}", data=tampered, headers=headers).status_code == 401
    assert _count(db) == 0


def test_stale_timestamp_is_refused(client, site, db):
    response = post(client, site, COMMENT, timestamp=int(time.time()) - 301)
    assert response.status_code == 401
    assert "window" in response.get_json()["error"]["message"]
    assert _count(db) == 0


def test_replayed_request_is_refused(client, site, db):
    body, headers = vigie_signed(site.secret, COMMENT)
    assert client.post(f"/webhooks/{site.slug}", data=body, headers=headers).status_code == 202
    replay = client.post(f"/webhooks/{site.slug}", data=body, headers=headers)
    assert replay.status_code == 401
    assert replay.get_json()["error"]["code"] == "replayed_request"
    assert _count(db) == 1


def test_malformed_json_and_missing_fields_name_the_problem(client, site, db):
    bad_json = post(client, site, b'{"text": "oups"')
    assert bad_json.status_code == 400 and bad_json.get_json()["error"]["code"] == "invalid_json"
    missing = post(client, site, {"external_id": "c-9"})
    assert missing.status_code == 400 and missing.get_json()["error"]["message"].startswith("text")
    unknown = post(client, site, {"text": "Bonjour", "txet": "typo"})
    assert unknown.status_code == 400 and "txet" in unknown.get_json()["error"]["message"]
    not_object = post(client, site, [COMMENT])
    assert not_object.status_code == 400
    assert _count(db) == 0


def test_oversized_or_unstorable_text_is_refused(client, site, db, settings):
    too_long = post(client, site, {"text": "a" * (settings.max_text_chars + 1)})
    assert too_long.status_code == 400 and "longer than" in too_long.get_json()["error"]["message"]
    nul = post(client, site, {"text": "bonjour\u0000"})
    assert nul.status_code == 400
    surrogate = post(client, site, b'{"text": "bonjour \\ud800"}')
    assert surrogate.status_code == 400
    assert _count(db) == 0


def test_unknown_site_is_404(client, site):
    body, headers = vigie_signed(site.secret, COMMENT)
    response = client.post("/webhooks/no-such-site", data=body, headers=headers)
    assert response.status_code == 404 and response.get_json()["error"]["code"] == "not_found"


def test_signed_webhook_comment_reaches_the_sites_receiver_decided(client, site, db, app, work):
    """End to end: webhook in -> queued -> scored by the real model -> signed decision event to the site."""
    from core import signing

    with Receiver() as receiver:
        with app.extensions["vigie"].db.session() as session:
            session.get(Site, site.id).callback_url = receiver.url
        comment_id = post(client, site, COMMENT).get_json()["id"]
        work()
        db.expire_all()
        comment = db.get(Comment, comment_id)
        assert comment.status in ("flagged", "rejected")
        (request,) = receiver.wait_for(1)
    signing.verify_vigie(request.headers["X-Vigie-Signature"], request.body, [site.secret])
    event = json.loads(request.body)
    assert event["event"] == "comment.decided" and request.headers["X-Vigie-Event"] == "comment.decided"
    assert event["comment"]["external_id"] == "c-1" and event["comment"]["status"] == comment.status
    assert event["comment"]["scores"]["toxicity"] == comment.score
    assert "text" not in event["comment"]
