"""Coral Talk's external moderation phase: a signed ExternalModerationRequest gets a decision from the site's
policy (status and flags in Coral's vocabulary), and the comment is recorded so moderators see it."""
from __future__ import annotations

import json
import time

import pytest
from sqlalchemy import func, select

from core.storage.models import AuditEntry, Comment, ModelResult, Site
from tests.integration_support import coral_signed, patient_budgets, sync_worker
from tests.test_coral_contract import coral_validate

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
    assert coral_validate([response.get_json()])[0]["ok"]
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
    assert coral_validate([body])[0]["ok"]
    (comment,) = db.scalars(select(Comment)).all()
    assert comment.status in ("flagged", "rejected") and comment.score > 0.5


def test_site_policy_words_and_status_mapping(client, site, db, app, scoring_worker):
    with app.extensions["vigie"].db.session() as session:
        row = session.get(Site, site.id)
        row.policy = {**row.policy, "words": {"banned": ["margoulin"], "suspect": [], "allowed": []},
                      "coral_statuses": {"rejected": "PREMOD"}}
    response = post(client, f"/integrations/coral/{site.slug}", [site.secret],
                    moderation_request("Quel M.A.R.G.O.U.L.I.N ce ministre."))
    # Coral accepts only TOXIC and SPAM as reasons: a word-list hit is a TOXIC flag (Vigie keeps the word)
    answer = response.get_json()
    assert answer == {"actions": [{"actionType": "FLAG", "reason": "COMMENT_DETECTED_TOXIC"}], "status": "PREMOD"}
    assert coral_validate([answer]) == [{"ok": True, "value": answer}]
    comment = db.scalars(select(Comment)).one()
    assert comment.status == "rejected"
    audit = db.scalar(select(AuditEntry).where(AuditEntry.comment_id == comment.id))
    assert any(r.get("kind") == "word" and r.get("term") == "margoulin" for r in audit.reasons)


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


def test_html_body_is_scored_as_text_and_kept_as_sent(client, site, db, scoring_worker):
    """Coral's default body format is HTML: Vigie scores (and shows moderators) the text, keeps the original."""
    html = "<p>Ferme-la, espèce d&#39;imbécile,<br>personne ne veut lire <b>tes conneries</b>.</p>"
    response = post(client, f"/integrations/coral/{site.slug}", [site.secret], moderation_request(html))
    assert response.status_code == 200
    assert response.get_json()["status"] in ("SYSTEM_WITHHELD", "REJECTED")
    comment = db.scalars(select(Comment)).one()
    assert comment.text == "Ferme-la, espèce d'imbécile,\npersonne ne veut lire tes conneries."
    assert comment.original_text == html
    plain = post(client, f"/integrations/coral/{site.slug}", [site.secret], moderation_request(BENIGN))
    assert plain.status_code == 200
    assert db.scalars(select(Comment).where(Comment.text == BENIGN)).one().original_text is None
    markup_only = post(client, f"/integrations/coral/{site.slug}", [site.secret], moderation_request("<p> </p>"))
    assert markup_only.status_code == 400 and "comment.body" in markup_only.get_json()["error"]["message"]


def test_replayed_request_without_comment_id_is_one_comment(client, site, db, scoring_worker):
    """Coral sends no comment id and its signature has no timestamp: an identical request (same action, author,
    story, parent and body) within VIGIE_CORAL_REPLAY_WINDOW_S is the same comment and gets the same answer."""
    path = f"/integrations/coral/{site.slug}"
    answers = [post(client, path, [site.secret], moderation_request(TOXIC)) for _ in range(3)]
    assert [a.status_code for a in answers] == [200, 200, 200]
    assert answers[0].get_json() == answers[1].get_json() == answers[2].get_json()
    assert _count(db) == 1
    edit = {**moderation_request(TOXIC), "action": "EDIT"}
    for _ in range(3):
        assert post(client, path, [site.secret], edit).status_code == 200
    assert _count(db) == 2  # the edit is moderated once, its replays are not stored again
    other_story = moderation_request(TOXIC)
    other_story["story"] = {"id": "story-10", "url": "https://journal.example/story-10"}
    assert post(client, path, [site.secret], other_story).status_code == 200
    assert _count(db) == 3


def test_replay_after_the_window_is_a_new_comment(client, site, db, settings, monkeypatch, scoring_worker):
    path = f"/integrations/coral/{site.slug}"
    assert post(client, path, [site.secret], moderation_request(BENIGN)).status_code == 200
    monkeypatch.setattr(settings, "coral_replay_window_s", 1)
    time.sleep(2.1)
    assert post(client, path, [site.secret], moderation_request(BENIGN)).status_code == 200
    assert _count(db) == 2


def test_concurrent_retries_of_one_comment_never_fail(app, site, db, scoring_worker):
    """Coral (or a proxy) retrying one comment concurrently: every call gets the one decision, one comment."""
    from concurrent.futures import ThreadPoolExecutor

    body, headers = coral_signed([site.secret], moderation_request(TOXIC))

    def call(_):
        response = app.test_client().post(f"/integrations/coral/{site.slug}", data=body, headers=headers)
        return response.status_code, response.get_json()

    with ThreadPoolExecutor(max_workers=8) as pool:
        answers = list(pool.map(call, range(8)))
    assert {status for status, _ in answers} <= {200, 204}, answers
    decided = [answer for status, answer in answers if status == 200]
    assert decided and all(answer == decided[0] for answer in decided)
    assert _count(db) == 1
    comment = db.scalars(select(Comment)).one()
    assert comment.status in ("flagged", "rejected")
    assert db.scalar(select(func.count()).select_from(ModelResult)) == 1


def test_html_to_text_keeps_plain_text_as_it_is():
    from service.integrations.html_text import html_to_text

    assert html_to_text("Je t'<3, a < b, 3>2") == "Je t'<3, a < b, 3>2"
    assert html_to_text('<p>Lisez <a href="https://x.example">ça</a>&nbsp;!</p><p>Fin</p>') == "Lisez ça !\nFin"
    assert html_to_text("<p>Salut</p><script>alert(1)</script>") == "Salut"


# ----------------------------------------------------------------------------------------------- rate limit
def test_coral_calls_are_rate_limited_per_site_with_a_json_429(client, app, site, settings, monkeypatch):
    """``VIGIE_CORAL_RATE_LIMIT`` per signing site, across both Coral routes; forged calls count per address and
    never spend a site's allowance; other sites are not affected."""
    from core.keys import create_site

    monkeypatch.setattr(settings, "coral_rate_limit", "3 per day")  # a fixed window: a minute boundary mid-test reset it
    monkeypatch.setattr(settings, "coral_timeout_ms", 10)  # no worker here: "no opinion" (204) at once
    with app.extensions["vigie"].db.session() as session:
        other, _, other_secret = create_site(session, "autre-journal")
        other_slug = other.slug
    # forged calls from another address: limited there, and the site's own allowance is untouched
    forged = [client.post(f"/integrations/coral/{site.slug}", data=json.dumps(moderation_request(BENIGN)),
                          headers={"Content-Type": "application/json", "X-Coral-Signature": "sha256=" + "0" * 64},
                          environ_base={"REMOTE_ADDR": "203.0.113.9"}).status_code for _ in range(4)]
    assert forged == [401, 401, 401, 429], forged
    statuses = [post(client, f"/integrations/coral/{site.slug}", [site.secret],
                     moderation_request(f"Commentaire numéro {i}")).status_code for i in range(3)]
    assert set(statuses) <= {200, 204}, statuses  # answered or "no opinion" (a worker of another test may answer)
    limited = post(client, "/integrations/coral", [site.secret], moderation_request("Encore un"))  # same site
    assert limited.status_code == 429
    assert limited.get_json()["error"]["code"] == "too_many_requests"
    assert int(limited.headers["Retry-After"]) > 0
    assert post(client, f"/integrations/coral/{other_slug}", [other_secret],
                moderation_request(BENIGN)).status_code in (200, 204)  # per site, not global


def test_coral_rate_limit_off(client, site, settings, monkeypatch):
    monkeypatch.setattr(settings, "coral_rate_limit", "off")
    monkeypatch.setattr(settings, "coral_timeout_ms", 10)
    statuses = {post(client, f"/integrations/coral/{site.slug}", [site.secret],
                     moderation_request(f"Message {i}")).status_code for i in range(8)}
    assert statuses <= {200, 204}  # never 429 (200 when another test's worker answers in time)


def test_a_coral_comment_id_is_bounded_so_that_its_key_fits(client, site, db):
    """Coral's comment id (added by a proxy) is stored as ``coral:<id>``: an id of 195 characters used to be refused
    with a message about ``external_id``, a field Coral never sent."""
    response = post(client, f"/integrations/coral/{site.slug}", [site.secret],
                    moderation_request(BENIGN, id="c" * 195))
    assert response.status_code == 400 and response.get_json()["error"]["field"] == "comment.id"
    assert _count(db) == 0


@pytest.mark.parametrize("field", ["id", "parentID", "author", "story", "story_url"])
def test_nul_in_what_vigie_stores_or_looks_up_is_a_400(client, site, db, field):
    """Schemathesis found it on PostgreSQL (which can neither store nor compare NUL): a NUL in Coral's comment id
    was a 500."""
    payload = moderation_request(BENIGN)
    if field in ("id", "parentID"):
        payload["comment"][field] = "c-1\x00"
    elif field == "story_url":
        payload["story"]["url"] = "https://journal.example/\x00"
    else:
        payload[field]["id"] = "x\x00y"
    response = post(client, f"/integrations/coral/{site.slug}", [site.secret], payload)
    assert response.status_code == 400, response.get_data(as_text=True)
    assert "NUL" in response.get_json()["error"]["message"]
    assert _count(db) == 0
