"""Coral Talk's external moderation phase: a signed ExternalModerationRequest gets a decision from the site's
policy (status and flags in Coral's vocabulary), and the comment is recorded so moderators see it."""
from __future__ import annotations

import json
import time

import pytest
from sqlalchemy import func, select

from core.storage.models import AuditEntry, Comment, ModelResult, Site
from tests.integration_support import coral_signed, patient_budgets, sync_worker

TOXIC = "Ferme-la, espèce d'imbécile, personne ne veut lire tes conneries."
BENIGN = "Merci pour cet article très clair sur la réforme des retraites."


@pytest.fixture(scope="module")
def scoring_worker(_app, settings):
    """A real `vigie worker --queues sync` process with the real model, shared by this module's tests."""
    with sync_worker(settings, _app.extensions["vigie"].redis) as process, patient_budgets(settings):
        yield process


def moderation_request(text, **comment):
    """What Coral sends for a new comment (src/core/server/services/comments/pipeline/phases/external.ts)."""
    return {"action": "NEW", "comment": {"body": text, "parentID": None, **comment},
            "author": {"id": "user-1", "role": "COMMENTER"},
            "story": {"id": "story-9", "url": "https://journal.example/politique/story-9"},
            "site": {"id": "coral-site-1"}, "tenantID": "tenant-1", "tenantDomain": "commentaires.journal.example"}


def post(client, path, secrets, payload):
    body, headers = coral_signed(secrets, payload)
    return client.post(path, data=body, headers=headers)


def _count(db) -> int:
    return db.scalar(select(func.count()).select_from(Comment))


def test_benign_comment_is_approved_and_recorded(client, site, db, scoring_worker):
    started = time.perf_counter()
    response = post(client, f"/integrations/coral/{site.slug}", [site.secret], moderation_request(BENIGN))
    elapsed_ms = (time.perf_counter() - started) * 1000
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.get_json() == {"actions": [], "status": "APPROVED"}
    (comment,) = db.scalars(select(Comment)).all()
    assert comment.source == "coral" and comment.status == "approved" and comment.decided_by == "model"
    assert comment.thread_id == "story-9" and comment.author_id == "user-1"
    assert comment.thread_url == "https://journal.example/politique/story-9"
    assert db.scalar(select(ModelResult).where(ModelResult.comment_id == comment.id)).scores["toxicity"] < 0.5
    assert db.scalar(select(AuditEntry).where(AuditEntry.comment_id == comment.id)).status_to == "approved"
    print(f"coral decision in {elapsed_ms:.0f} ms")


def test_toxic_comment_is_withheld_and_flagged_toxic(client, site, db, scoring_worker):
    response = post(client, f"/integrations/coral/{site.slug}", [site.secret], moderation_request(TOXIC))
    assert response.status_code == 200
    body = response.get_json()
    assert body["status"] in ("SYSTEM_WITHHELD", "REJECTED")
    assert {"actionType": "FLAG", "reason": "COMMENT_DETECTED_TOXIC"} in body["actions"]
    (comment,) = db.scalars(select(Comment)).all()
    assert comment.status in ("flagged", "rejected") and comment.score > 0.5


def test_site_policy_words_and_status_mapping(client, site, db, app, scoring_worker):
    with app.extensions["vigie"].db.session() as session:
        row = session.get(Site, site.id)
        row.policy = {**row.policy, "words": {"banned": ["margoulin"], "suspect": [], "allowed": []},
                      "coral_statuses": {"rejected": "PREMOD"}}
    response = post(client, f"/integrations/coral/{site.slug}", [site.secret],
                    moderation_request("Quel M.A.R.G.O.U.L.I.N ce ministre."))
    assert response.get_json() == {"actions": [{"actionType": "FLAG", "reason": "COMMENT_DETECTED_BANNED_WORD"}],
                                   "status": "PREMOD"}
    assert db.scalars(select(Comment)).one().status == "rejected"


def test_any_of_several_signatures_and_rolled_secrets_pass(client, site, db, app, scoring_worker):
    with app.extensions["vigie"].db.session() as session:
        session.get(Site, site.id).signing_secrets = ["whsec_next", site.secret]
    ok = post(client, f"/integrations/coral/{site.slug}", ["whsec_unknown", "whsec_next"],
              moderation_request(BENIGN))
    assert ok.status_code == 200


def test_unscoped_endpoint_finds_the_site_by_signature(client, site, db, app, scoring_worker):
    from core.keys import create_site

    with app.extensions["vigie"].db.session() as session:
        _, _, other_secret = create_site(session, "autre-journal")
    response = post(client, "/integrations/coral", [other_secret], moderation_request(BENIGN))
    assert response.status_code == 200
    comment = db.scalars(select(Comment)).one()
    assert db.get(Site, comment.site_id).slug == "autre-journal"


def test_bad_or_missing_signature_is_401_and_nothing_stored(client, site, db):
    for path in (f"/integrations/coral/{site.slug}", "/integrations/coral"):
        wrong = post(client, path, ["whsec_forged"], moderation_request(TOXIC))
        assert wrong.status_code == 401 and wrong.get_json()["error"]["code"] == "invalid_signature"
        unsigned = client.post(path, data=json.dumps(moderation_request(TOXIC)),
                               headers={"Content-Type": "application/json"})
        assert unsigned.status_code == 401
    body, headers = coral_signed([site.secret], moderation_request(BENIGN))
    tampered = body.replace(b"Merci", b"Honte")
    assert client.post(f"/integrations/coral/{site.slug}", data=tampered, headers=headers).status_code == 401
    assert _count(db) == 0


def test_malformed_requests_are_400_naming_the_field(client, site, db):
    path = f"/integrations/coral/{site.slug}"
    bad_json = post(client, path, [site.secret], b'{"action": "NEW",')
    assert bad_json.status_code == 400 and bad_json.get_json()["error"]["code"] == "invalid_json"
    request = moderation_request(BENIGN)
    del request["comment"]["body"]
    missing = post(client, path, [site.secret], request)
    assert missing.status_code == 400 and missing.get_json()["error"]["message"].startswith("comment.body")
    no_author = {k: v for k, v in moderation_request(BENIGN).items() if k != "author"}
    assert post(client, path, [site.secret], no_author).get_json()["error"]["message"].startswith("author")
    too_long = post(client, path, [site.secret], moderation_request("x" * 20_001))
    assert too_long.status_code == 400 and "comment.body" in too_long.get_json()["error"]["message"]
    assert post(client, "/integrations/coral/nope", [site.secret], moderation_request(BENIGN)).status_code == 404
    assert _count(db) == 0


def test_retried_new_comment_is_stored_once_and_an_edit_is_moderated_anew(client, site, db, scoring_worker):
    path = f"/integrations/coral/{site.slug}"
    first = post(client, path, [site.secret], moderation_request(BENIGN, id="coral-c1"))
    again = post(client, path, [site.secret], moderation_request(BENIGN, id="coral-c1"))
    assert first.get_json() == again.get_json() == {"actions": [], "status": "APPROVED"}
    assert _count(db) == 1
    edit = {**moderation_request(TOXIC, id="coral-c1"), "action": "EDIT"}
    edited = post(client, path, [site.secret], edit).get_json()
    assert edited["status"] in ("SYSTEM_WITHHELD", "REJECTED")
    assert _count(db) == 2
