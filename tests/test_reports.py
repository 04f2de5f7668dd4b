"""Readers' reports: POST /api/v1/comments/<id>/reports and the signed webhook's "report" event record one report
per (comment, reader); a comment the model approved is flagged (audited, actor system/reports) once the site's
report threshold is reached, never un-rejected, and shows in the dashboard's "Signalés" queue, most reported first."""
from __future__ import annotations

import itertools
import json
import re
import time

from sqlalchemy import func, select

from core.storage.models import AuditEntry, Comment, CommentReport, Site
from tests.dashboard_support import add_comment, add_user, login
from tests.integration_support import vigie_signed

BENIGN = "Merci pour cet article très clair sur la réforme des retraites, j'ai appris beaucoup."


def report(client, site, comment_id, reporter, reason="offensive", **extra):
    return client.post(f"/api/v1/comments/{comment_id}/reports", headers=site.headers,
                       json={"reason": reason, "reporter_id": reporter, **extra})


def error_of(response) -> dict:
    body = response.get_json()
    assert set(body) == {"error"}, body
    return body["error"]


def _approved(db, site, text=BENIGN, **fields) -> int:
    comment = add_comment(db, site.id, text, score=0.03, status="approved", **fields)
    db.commit()
    return comment.id


def _set_threshold(app, site, n):
    with app.extensions["vigie"].db.session() as session:
        session.get(Site, site.id).report_threshold = n
        session.commit()


def test_a_report_is_recorded_once_per_reader(client, site, db):
    comment_id = _approved(db, site)
    first = report(client, site, comment_id, "lecteur-1", reason="COMMENT_REPORTED_SPAM", text="Publicité déguisée")
    assert first.status_code == 201
    body = first.get_json()
    assert body["created"] is True and body["report"]["reason"] == "spam"
    assert body["report"]["text"] == "Publicité déguisée" and body["comment"]["report_count"] == 1
    again = report(client, site, comment_id, "lecteur-1", reason="offensive")
    assert again.status_code == 200 and again.get_json()["created"] is False
    assert again.get_json()["report"]["id"] == body["report"]["id"]
    assert again.get_json()["report"]["reason"] == "spam"  # the first report stands
    assert db.scalar(select(func.count()).select_from(CommentReport)) == 1
    db.expire_all()
    assert db.get(Comment, comment_id).report_count == 1


def test_bad_reports_are_refused_with_a_json_error(client, site, db, app):
    comment_id = _approved(db, site)
    assert error_of(report(client, site, 999_999, "r"))["code"] == "not_found"
    assert report(client, site, 999_999, "r").status_code == 404
    # another site's comment is not found either
    from core.keys import create_site
    with app.extensions["vigie"].db.session() as session:
        other, _, _ = create_site(session, "autre", "Autre")
        other_comment = add_comment(session, other.id, "Ailleurs", score=0.1, status="approved")
        session.commit()
        other_id = other_comment.id
    assert report(client, site, other_id, "r").status_code == 404
    cases = [({"reporter_id": "r"}, "reason"), ({"reason": "spam"}, "reporter_id"),
             ({"reason": "", "reporter_id": "r"}, "reason"), ({"reason": "spam", "reporter_id": "r", "x": 1}, "x"),
             ({"reason": "spam", "reporter_id": "r", "text": "x" * 1001}, "text"),
             ({"reason": "spam", "reporter_id": "r\x00"}, "reporter_id")]
    for payload, field in cases:
        response = client.post(f"/api/v1/comments/{comment_id}/reports", headers=site.headers, json=payload)
        assert response.status_code == 400, payload
        assert field in error_of(response)["message"], (payload, response.get_json())
    assert client.post(f"/api/v1/comments/{comment_id}/reports", json={"reason": "spam", "reporter_id": "r"}
                       ).status_code == 401
    assert client.post(f"/api/v1/comments/{comment_id}/reports", headers=site.headers, data="reason=spam"
                       ).status_code == 415
    assert db.scalar(select(func.count()).select_from(CommentReport)) == 0


def test_reaching_the_threshold_flags_a_model_approved_comment(client, site, db, app):
    _set_threshold(app, site, 2)
    comment_id = _approved(db, site)
    assert report(client, site, comment_id, "a").get_json()["comment"]["status"] == "approved"
    assert report(client, site, comment_id, "a").get_json()["comment"]["status"] == "approved"  # same reader
    body = report(client, site, comment_id, "b", reason="abusive").get_json()
    assert body["comment"]["status"] == "flagged" and body["comment"]["flagged_by_reports"] is True
    entry = db.scalar(select(AuditEntry).where(AuditEntry.comment_id == comment_id).order_by(AuditEntry.id.desc()))
    assert (entry.actor, entry.actor_name, entry.status_from, entry.status_to) == ("system", "reports", "approved",
                                                                                  "flagged")
    assert entry.reasons == [{"kind": "reports", "count": 2, "threshold": 2,
                              "reasons": {"abusive": 1, "offensive": 1}}]
    # a third report changes nothing more
    assert report(client, site, comment_id, "c").get_json()["comment"]["flagged_by_reports"] is False
    assert db.scalar(select(func.count()).select_from(AuditEntry).where(AuditEntry.comment_id == comment_id)) == 2
    # the API tells the comment system
    decision = client.get(f"/api/v1/comments/{comment_id}", headers=site.headers).get_json()["decision"]
    assert decision["status"] == "flagged" and decision["decided_by"] == "system"
    # moderators read who flagged it in their language
    login(client, add_user(app, "lecteur-des-signalements"))
    panel = client.get(f"/comments/{comment_id}/panel").text
    assert "Système (signalements des lecteurs)" in panel and "(reports)" not in panel


def test_reports_never_unreject_nor_overrule_a_moderator(client, site, db, app):
    _set_threshold(app, site, 1)
    rejected = add_comment(db, site.id, "Bande d'abrutis", score=0.95, status="rejected").id
    approved_by_moderator = add_comment(db, site.id, "Un avis tranché mais correct", score=0.6, status="approved",
                                        actor="moderator").id
    db.commit()
    for comment_id, status in ((rejected, "rejected"), (approved_by_moderator, "approved")):
        body = report(client, site, comment_id, "lecteur").get_json()
        assert body["created"] is True and body["comment"]["status"] == status
        assert body["comment"]["flagged_by_reports"] is False


def test_a_comment_reported_while_pending_is_flagged_once_the_model_approves_it(client, site, db, app, work):
    _set_threshold(app, site, 2)
    accepted = client.post("/api/v1/comments", headers=site.headers, json={"text": BENIGN, "external_id": "p-1"})
    comment_id = accepted.get_json()["id"]
    for reader in ("a", "b"):
        assert report(client, site, comment_id, reader).get_json()["comment"]["status"] == "pending"
    work()
    db.expire_all()
    comment = db.get(Comment, comment_id)
    assert comment.status == "flagged" and comment.decided_by == "system"
    actions = [(e.actor, e.status_to) for e in db.scalars(select(AuditEntry).where(AuditEntry.comment_id == comment_id)
                                                          .order_by(AuditEntry.id))]
    assert actions == [("model", "approved"), ("system", "flagged")]  # the model approved it; reports flagged it


_SENT = itertools.count()


def _signed(client, site, payload):
    """Each request signed anew (a distinct timestamp: the same signature twice is a replay)."""
    body, headers = vigie_signed(site.secret, payload, int(time.time()) - next(_SENT) % 200)
    return client.post(f"/webhooks/{site.slug}", data=body, headers=headers)


def test_the_signed_webhook_carries_reports(client, site, db, app):
    _set_threshold(app, site, 2)
    comment_id = _approved(db, site, external_id="coral-77")
    event = {"event": "report", "external_id": "coral-77", "reporter_id": "r1", "reason": "harassment"}
    first = _signed(client, site, event)
    assert first.status_code == 201, first.text
    assert first.get_json()["comment_id"] == comment_id and first.get_json()["report_count"] == 1
    assert _signed(client, site, event).status_code == 200  # the same reader again: nothing new
    second = _signed(client, site, {**event, "reporter_id": "r2", "text": "Il harcèle l'autrice"})
    assert second.get_json()["status"] == "flagged"
    assert _signed(client, site, {**event, "external_id": "inconnu"}).status_code == 404
    assert _signed(client, site, {"event": "report", "reporter_id": "r", "reason": "spam"}).status_code == 400
    assert _signed(client, site, {"event": "vote", "external_id": "coral-77"}).status_code == 400
    unsigned = client.post(f"/webhooks/{site.slug}", data=json.dumps({**event, "reporter_id": "r3"}),
                           headers={"Content-Type": "application/json"})
    assert unsigned.status_code == 401
    assert db.scalar(select(func.count()).select_from(CommentReport)) == 2
    # a comment with "event": "comment" is still a comment
    created = _signed(client, site, {"event": "comment", "text": "Bonjour", "external_id": "n-1"})
    assert created.status_code == 202 and created.get_json()["created"] is True


def test_the_reported_queue_lists_most_reported_first_with_reasons(client, app, site, db):
    _set_threshold(app, site, 10)
    once = _approved(db, site, text="Signalé une fois")
    thrice = _approved(db, site, text="Signalé trois fois")
    twice = _approved(db, site, text="Signalé deux fois")
    never = _approved(db, site, text="Jamais signalé")
    for comment_id, readers in ((once, 1), (thrice, 3), (twice, 2)):
        for i in range(readers):
            report(client, site, comment_id, f"r{i}", reason="spam" if i else "offensive")
    report(client, site, thrice, "r3", reason="spam", text="<b>Pub</b> pour un casino")
    rejected = add_comment(db, site.id, "Rejeté puis signalé", score=0.9, status="rejected").id
    db.commit()
    report(client, site, rejected, "r0")
    add_user(app, "camille")
    login(client, "camille")
    html = client.get("/queue?tab=reported").text
    ids = [int(i) for i in re.findall(r'<article class="card" id="c-(\d+)"', html)]
    assert ids == [thrice, twice, once] and never not in ids and rejected not in ids
    assert 'data-count="reported">3<' in html
    assert "Signalé 4 fois" in html and "spam (3)" in html and "choquant" in html
    assert '<q class="reader-words">&lt;b&gt;Pub&lt;/b&gt; pour un casino</q>' in html  # the reader's words, escaped
    assert client.get("/queue?tab=reported&cursor=t1").status_code == 400
    # the next page continues in the same order
    from service.dashboard import queries
    with app.test_request_context():
        f = queries.QueueFilters.from_args({"tab": "reported"})
        first = queries.queue_page(db, f, size=2)
        rest = queries.queue_page(db, queries.QueueFilters.from_args({"tab": "reported", "cursor": first.next_cursor}),
                                  size=2)
    assert [c.id for c in first.comments] + [c.id for c in rest.comments] == [thrice, twice, once]


def test_report_threshold_is_a_site_setting_and_audited(client, app, site, db):
    from tests.test_dashboard_admin import _settings_form

    add_user(app, "root", role="admin")
    login(client, "root")
    assert client.post(f"/admin/sites/{site.id}", data=_settings_form(client, site.id, report_threshold="5")
                       ).status_code == 302
    db.expire_all()
    assert db.get(Site, site.id).report_threshold == 5
    entry = db.scalar(select(AuditEntry).where(AuditEntry.action == "settings"))
    assert "report_threshold: 3 → 5" in entry.note
    for bad in ("0", "abc", "1001", "-2"):
        response = client.post(f"/admin/sites/{site.id}", data=_settings_form(client, site.id, report_threshold=bad))
        assert response.status_code == 400 and "Signalements avant" in response.text
    db.expire_all()
    assert db.get(Site, site.id).report_threshold == 5


def test_erasure_clears_readers_words_and_an_erased_readers_id(client, site, db):
    reported = _approved(db, site, author_id="auteur-1")
    other = _approved(db, site, text="Un autre commentaire", author_id="auteur-2")
    report(client, site, reported, "lecteur-1", text="Il a écrit « Jean Dupont habite rue X »")
    report(client, site, other, "auteur-1", reason="spam", text="Mon avis de lecteur")
    assert client.delete(f"/api/v1/comments/{reported}", headers=site.headers).status_code == 200
    db.expire_all()
    words = db.scalar(select(CommentReport).where(CommentReport.comment_id == reported))
    assert words.text is None and words.reporter_id == "lecteur-1" and db.get(Comment, reported).report_count == 1
    # auteur-1 is erased as an author: their reports as a reader lose their id and words, and still count
    assert client.delete("/api/v1/authors/auteur-1", headers=site.headers).status_code == 200
    db.expire_all()
    theirs = db.scalar(select(CommentReport).where(CommentReport.comment_id == other))
    assert theirs.reporter_id.startswith("erased:") and "auteur-1" not in theirs.reporter_id and theirs.text is None
    assert db.get(Comment, other).report_count == 1
    assert report(client, site, other, "auteur-1").status_code == 201  # a new report after erasure is a new reader
