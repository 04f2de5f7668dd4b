"""Actions on authors as a newsroom relies on them: a ban, a suspension or pre-moderation changes what Vigie does
with the author's next comments (in the one decision path), every action is audited, reversible with its history
kept, sent to the site's callback as a signed ``author.action`` event and readable by the API; a moderator rejects
every waiting comment of an author at once and undoes it."""
from __future__ import annotations

import json
from datetime import timedelta

import pytest
from sqlalchemy import select

from core import signing
from core.author_actions import AuthorActionError, act
from core.decisions import apply_scores
from core.storage.models import AuditEntry, AuthorAction, AuthorStanding, Comment, Site, WebhookDelivery, utcnow
from tests.dashboard_support import add_comment, add_user, login
from tests.integration_support import Receiver, run_webhook_jobs

CLEAN = {"toxicity": 0.02, "severe_toxicity": 0.0, "obscene": 0.01, "threat": 0.0, "insult": 0.01,
         "identity_attack": 0.0}
TOXIC = {**CLEAN, "toxicity": 0.97, "severe_toxicity": 0.95}


def _pending(db, site_id, author_id, text="Merci pour cet article.", **fields) -> Comment:
    comment = Comment(site_id=site_id, text=text, author_id=author_id, source="api", **fields)
    db.add(comment)
    db.flush()
    return comment


def _decide(db, site_id, comment, scores):
    site = db.get(Site, site_id)
    decision = apply_scores(db, site, comment, scores, "vigie-fr-toxicity", "test", None, 1.0, None)
    db.commit()
    return decision


def _act(db, site_id, author_id, action, **kw):
    row = act(db, db.get(Site, site_id), author_id, action, actor="moderator", actor_name="camille", **kw)
    db.commit()
    return row


def _page(client, site_id, author_id):
    return client.get(f"/authors/{site_id}", query_string={"id": author_id})


def _post(client, token, site_id, author_id, **form):
    return client.post(f"/authors/{site_id}", query_string={"id": author_id}, data={"csrf_token": token, **form})


# ------------------------------------------------------------------------------------------- decision path
def test_a_banned_authors_clean_comment_is_rejected_and_a_lifted_ban_decides_by_the_score_again(app, site, db):
    _act(db, site.id, "troll", "ban", reason="Insultes répétées")
    decision = _decide(db, site.id, _pending(db, site.id, "troll"), CLEAN)
    assert decision.status == "rejected" and decision.actor == "system"
    assert decision.reasons[0] == {"kind": "author", "author_id": "troll", "standing": "banned"}
    other = _decide(db, site.id, _pending(db, site.id, "someone-else"), CLEAN)
    assert other.status == "approved"  # only that author, only that site
    _act(db, site.id, "troll", "unban")
    assert _decide(db, site.id, _pending(db, site.id, "troll"), CLEAN).status == "approved"


def test_a_suspension_rejects_until_its_end_only(app, site, db):
    _act(db, site.id, "u1", "suspend", days=3, reason="Calmez-vous")
    decision = _decide(db, site.id, _pending(db, site.id, "u1"), CLEAN)
    assert decision.status == "rejected" and decision.reasons[0]["standing"] == "suspended"
    standing = db.scalar(select(AuthorStanding).where(AuthorStanding.author_id == "u1"))
    standing.suspended_until = utcnow() - timedelta(minutes=1)  # the suspension has ended
    db.commit()
    assert _decide(db, site.id, _pending(db, site.id, "u1"), CLEAN).status == "approved"


def test_a_premoderated_authors_comments_are_held_flagged_whatever_the_score_and_rejections_stay(app, site, db):
    _act(db, site.id, "u2", "premoderate")
    clean = _decide(db, site.id, _pending(db, site.id, "u2"), CLEAN)
    assert clean.status == "flagged" and clean.actor == "system"
    assert clean.reasons == [{"kind": "author", "author_id": "u2", "standing": "premoderated"}]
    stored = db.get(Site, site.id)
    stored.policy = {**(stored.policy or {}), "reject_thresholds": {"severe_toxicity": 0.9}}
    db.commit()
    toxic = _decide(db, site.id, _pending(db, site.id, "u2", "Ordure"), TOXIC)
    assert toxic.status == "rejected" and toxic.actor == "model"  # the stricter decision wins
    assert toxic.reasons[-1]["standing"] == "premoderated"
    _act(db, site.id, "u2", "unpremoderate")
    assert _decide(db, site.id, _pending(db, site.id, "u2"), CLEAN).status == "approved"


def test_what_cannot_be_done_is_refused_with_a_code(app, site, db):
    with pytest.raises(AuthorActionError) as exc:
        _act(db, site.id, "u3", "unban")
    assert exc.value.code == "not_in_force"
    db.rollback()
    _act(db, site.id, "u3", "ban")
    for action, kw, code in (("ban", {}, "already"), ("suspend", {"days": 0}, "bad_days"),
                             ("suspend", {"days": 366}, "bad_days"), ("warn", {}, "reason_required"),
                             ("note", {"reason": "x" * 2001}, "reason_too_long"), ("shout", {}, "unknown_action"),
                             ("delete_note", {"reason": None}, "no_such_action")):
        with pytest.raises(AuthorActionError) as exc:
            _act(db, site.id, "u3", action, **kw)
        assert exc.value.code == code, action
        db.rollback()


# ---------------------------------------------------------------------------------------------- dashboard
def test_a_moderator_bans_lifts_warns_and_notes_from_the_author_page_each_audited_and_sent(app, client, site, db):
    db.get(Site, site.id).callback_url = "https://hooks.example.fr/vigie"
    add_comment(db, site.id, "Espèce d'abruti", score=0.9, author_id="marc75", author_name="Marc_75")
    db.commit()
    add_user(app, "camille")
    token = login(client, "camille")
    page = _page(client, site.id, "marc75")
    assert page.status_code == 200 and "Auteur : Marc_75" in page.text and "Aucune restriction" in page.text

    response = _post(client, token, site.id, "marc75", action="ban", reason="Insultes répétées")
    assert response.status_code == 302
    page = client.get(response.headers["Location"])
    assert "Auteur banni" in page.text and 'data-standing="banned"' in page.text
    assert "Lever le bannissement" in page.text
    _post(client, token, site.id, "marc75", action="warn", reason="Restez courtois, s'il vous plaît.")
    _post(client, token, site.id, "marc75", action="note", reason="Déjà signalé par la rédaction sport")
    _post(client, token, site.id, "marc75", action="unban")
    page = _page(client, site.id, "marc75").text
    assert "Déjà signalé par la rédaction sport" in page and "Avertissements : 1" in page
    assert 'data-standing="banned"' not in page
    assert "Bannissement levé" in page and "Banni" in page  # the history stays

    entries = db.scalars(select(AuditEntry).where(AuditEntry.comment_id.is_(None)).order_by(AuditEntry.id)).all()
    assert [(e.action, e.actor_name, e.note) for e in entries] == [
        ("author_ban", "camille", "Insultes répétées"),
        ("author_warn", "camille", "Restez courtois, s'il vous plaît."),
        ("author_note", "camille", "Déjà signalé par la rédaction sport"),
        ("author_unban", "camille", None)]
    assert all(e.reasons[0]["author_id"] == "marc75" for e in entries)
    audit = client.get("/audit").text
    assert "auteur banni" in audit and "bannissement de l’auteur levé" in audit and "auteur averti" in audit
    assert f'/authors/{site.id}?id=marc75' in audit

    events = [d.payload for d in db.scalars(select(WebhookDelivery).where(WebhookDelivery.event == "author.action")
                                            .order_by(WebhookDelivery.id))]
    assert [e["action"] for e in events] == ["ban", "warn", "note", "unban"]
    ban, unban = events[0], events[-1]
    assert ban["author"] == {"id": "marc75", "name": "Marc_75"} and ban["moderator"] == "camille"
    assert ban["reason"] == "Insultes répétées" and ban["standing"]["banned"] is True and ban["until"] is None
    assert unban["standing"]["banned"] is False and unban["reverts"] == ban["action_id"]


def test_suspension_days_are_checked_and_errors_are_french_400s(app, client, site, db):
    add_comment(db, site.id, "Texte", author_id="u5")
    db.commit()
    add_user(app, "camille")
    token = login(client, "camille")
    for days in ("0", "400", "abc", "", "1e3"):
        refused = _post(client, token, site.id, "u5", action="suspend", days=days)
        assert refused.status_code == 400 and "Une suspension dure de 1 à 365 jours." in refused.text, days
    assert db.scalar(select(AuthorStanding)) is None
    refused = _post(client, token, site.id, "u5", action="warn", reason="  ")
    assert refused.status_code == 400 and "Écrivez d’abord le texte." in refused.text
    assert _post(client, token, site.id, "u5", action="explode").status_code == 400
    assert _post(client, token, site.id, "u5", action="ban", reason="a\x00b").status_code == 400
    ok = _post(client, token, site.id, "u5", action="suspend", days="7", reason="Trois jours de calme")
    assert ok.status_code == 302
    standing = db.scalar(select(AuthorStanding))
    left = standing.suspended_until.replace(tzinfo=None) - utcnow().replace(tzinfo=None)
    assert timedelta(days=6, hours=23) < left <= timedelta(days=7)
    assert 'data-standing="suspended">Suspendu jusqu’au' in _page(client, site.id, "u5").text


def test_unknown_authors_and_sites_are_404_and_a_missing_id_is_400(app, client, site, db):
    add_user(app, "camille")
    token = login(client, "camille")
    assert _page(client, site.id, "nobody").status_code == 404
    assert _post(client, token, site.id, "nobody", action="ban").status_code == 404
    assert _page(client, 999999, "x").status_code == 404
    assert client.get(f"/authors/{site.id}").status_code == 400
    assert _page(client, site.id, "x" * 201).status_code == 400
    assert db.scalar(select(AuthorStanding)) is None


def test_reject_all_waiting_comments_of_an_author_with_a_reason_then_undo(app, client, site, db):
    db.get(Site, site.id).reject_reasons = ["Insulte", "Spam"]
    flagged = [add_comment(db, site.id, f"Insulte {i}", score=0.9, author_id="troll").id for i in range(3)]
    approved = add_comment(db, site.id, "Bon article", score=0.1, status="approved", author_id="troll").id
    waiting = _pending(db, site.id, "troll", "Pas encore évalué").id
    other = add_comment(db, site.id, "Autre auteur", score=0.9, author_id="someone").id
    db.commit()
    add_user(app, "camille")
    token = login(client, "camille")
    assert "En attente d’une décision : 4" in _page(client, site.id, "troll").text
    refused = _post(client, token, site.id, "troll", action="reject_waiting", reason="Pas une raison du site")
    assert refused.status_code == 400
    response = _post(client, token, site.id, "troll", action="reject_waiting", reason="Insulte",
                     explanation="Campagne de harcèlement")
    assert response.status_code == 302
    shown = client.get(response.headers["Location"]).text
    assert "4 commentaires rejetés." in shown, shown[shown.find("flashes"):shown.find("flashes") + 300]
    db.expire_all()
    status = {i: db.get(Comment, i).status for i in flagged + [approved, waiting, other]}
    assert [status[i] for i in flagged + [waiting]] == ["rejected"] * 4
    assert status[approved] == "approved" and status[other] == "flagged"
    entry = db.scalars(select(AuditEntry).where(AuditEntry.comment_id == flagged[0]).order_by(AuditEntry.id.desc())).first()
    assert entry.actor_name == "camille" and entry.reasons == [{"kind": "reason", "text": "Insulte"},
                                                               {"kind": "explanation", "text": "Campagne de harcèlement"}]
    bulk = db.scalars(select(AuthorAction).where(AuthorAction.action == "reject_waiting")).one()
    assert bulk.comment_count == 4
    assert db.scalars(select(AuditEntry).where(AuditEntry.action == "author_reject_waiting")).one().note == \
        "Insulte · Campagne de harcèlement"

    undone = client.post("/actions/undo", json={}, headers={"X-CSRFToken": token})
    assert undone.status_code == 200 and sorted(undone.json["undone"]) == sorted(flagged + [waiting])
    db.expire_all()
    assert [db.get(Comment, i).status for i in flagged + [waiting]] == ["flagged"] * 3 + ["pending"]
    nothing = _post(client, token, site.id, "someone-without-waiting", action="reject_waiting")
    assert nothing.status_code == 404


def test_the_cards_panel_and_comment_page_lead_to_the_author_page(app, client, site, db):
    comment = add_comment(db, site.id, "Commentaire", score=0.8, author_id="a/b?c#d", author_name="Lecteur")
    db.commit()
    add_user(app, "camille")
    login(client, "camille")
    link = f"/authors/{site.id}?id=a/b?c%23d"
    assert link in client.get("/queue").text.replace("%2F", "/").replace("%3F", "?")
    _act(db, site.id, "a/b?c#d", "premoderate")
    panel = client.get(f"/comments/{comment.id}/panel").text
    assert 'data-role="author-page"' in panel and 'data-standing="premoderated"' in panel
    assert 'data-role="author-page"' in client.get(f"/comments/{comment.id}").text
    assert _page(client, site.id, "a/b?c#d").status_code == 200


# ------------------------------------------------------------------------------------------------ events
def test_the_author_event_reaches_the_callback_signed_with_the_sites_secret(app, site, db):
    with Receiver() as receiver:
        db.get(Site, site.id).callback_url = receiver.url
        add_comment(db, site.id, "Texte", author_id="u9", author_name="Neuf")
        db.commit()
        act(db, db.get(Site, site.id), "u9", "suspend", days=2, reason="Propos haineux", actor="moderator",
            actor_name="camille", services=app.extensions["vigie"])
        db.commit()
        run_webhook_jobs(app)
        requests = receiver.wait_for(1)
    assert len(requests) == 1
    request = requests[0]
    assert request.headers["X-Vigie-Event"] == "author.action"
    signing.verify_vigie(request.headers["X-Vigie-Signature"], request.body, [site.secret])  # raises if wrong
    body = json.loads(request.body)
    assert body["event"] == "author.action" and body["site"] == site.slug and body["action"] == "suspend"
    assert body["author"] == {"id": "u9", "name": "Neuf"} and body["reason"] == "Propos haineux"
    assert body["standing"]["suspended"] is True and body["standing"]["suspended_until"] == body["until"]
    assert body["delivery_id"] == int(request.headers["X-Vigie-Delivery"])
    yaml = pytest.importorskip("yaml")
    from pathlib import Path

    spec = yaml.safe_load((Path(__file__).resolve().parents[1] / "service" / "openapi" / "authors.yaml").read_text())
    assert set(body) == set(spec["components"]["schemas"]["AuthorActionEvent"]["required"])


# --------------------------------------------------------------------------------------------------- API
def test_the_api_says_an_authors_standing_counts_and_recent_actions(app, client, site, db):
    add_comment(db, site.id, "Un", score=0.9, author_id="u/7", author_name="Sept")
    add_comment(db, site.id, "Deux", score=0.1, status="approved", author_id="u/7")
    _pending(db, site.id, "u/7")
    db.commit()
    _act(db, site.id, "u/7", "premoderate", reason="Nouveau compte agressif")
    _act(db, site.id, "u/7", "ban")
    response = client.get("/api/v1/authors/u/7", headers=site.headers)
    assert response.status_code == 200, response.text
    body = response.json
    assert body["id"] == "u/7" and body["name"] == "Sept" and body["site"] == site.slug
    assert body["standing"]["banned"] is True and body["standing"]["premoderated"] is True
    assert body["standing"]["suspended"] is False and body["standing"]["suspended_until"] is None
    assert body["counts"] == {"pending": 1, "approved": 1, "flagged": 1, "rejected": 0, "total": 3}
    assert [a["action"] for a in body["recent_actions"]] == ["ban", "premoderate"]
    assert body["recent_actions"][1]["reason"] == "Nouveau compte agressif"
    assert body["recent_actions"][0]["moderator"] == "camille"


def test_the_author_api_needs_a_key_and_answers_404_json_for_an_unknown_author(app, client, site, db):
    add_comment(db, site.id, "Un", author_id="known")
    db.commit()
    missing = client.get("/api/v1/authors/nobody", headers=site.headers)
    assert missing.status_code == 404 and missing.json["error"]["code"] == "not_found"
    no_key = client.get("/api/v1/authors/known")
    assert no_key.status_code == 401 and no_key.json["error"]["code"] == "unauthorized"
    from core.keys import create_site
    with app.extensions["vigie"].db.session() as session:
        _, other_key, _ = create_site(session, "autre", "Autre journal")
    other = client.get("/api/v1/authors/known", headers={"Authorization": f"Bearer {other_key}"})
    assert other.status_code == 404  # another site's author is not this site's
    assert client.get("/api/v1/authors/" + "x" * 201, headers=site.headers).status_code == 400


def test_the_api_answer_has_the_shape_its_openapi_fragment_documents(app, client, site, db):
    yaml = pytest.importorskip("yaml")
    from pathlib import Path

    spec = yaml.safe_load((Path(__file__).resolve().parents[1] / "service" / "openapi" / "authors.yaml").read_text())
    schemas = spec["components"]["schemas"]
    assert set(spec["paths"]) == {"/api/v1/authors/{author_id}"}
    add_comment(db, site.id, "Un", author_id="u1")
    db.commit()
    _act(db, site.id, "u1", "suspend", days=1)
    body = client.get("/api/v1/authors/u1", headers=site.headers).json
    assert set(body) == set(schemas["Author"]["required"])
    assert set(body["standing"]) == set(schemas["AuthorStanding"]["required"])
    assert set(body["counts"]) == set(schemas["Author"]["properties"]["counts"]["required"])
    assert set(body["recent_actions"][0]) == set(schemas["AuthorActionRecord"]["required"])
    missing = client.get("/api/v1/authors/nobody", headers=site.headers).json
    assert set(missing) == set(schemas["AuthorsError"]["required"])


def test_a_hostile_author_id_and_name_stay_text_and_the_page_speaks_english_on_request(app, client, site, db):
    xss = '<img src=x onerror="alert(1)"><script>alert(1)</script>'
    add_comment(db, site.id, xss, score=0.9, author_id=xss, author_name=xss)
    db.commit()
    add_user(app, "camille")
    token = login(client, "camille")
    assert _post(client, token, site.id, xss, action="note", reason=xss).status_code == 302
    page = _page(client, site.id, xss).text
    assert "<script>alert(1)</script>" not in page and "<img src=x" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    english = client.get(f"/authors/{site.id}", query_string={"id": xss}, headers={"Accept-Language": "en"}).text
    assert '<html lang="en">' in english and "Action history" in english and "Private notes" in english


@pytest.mark.parametrize("known", [False, True], ids=["first action", "standing row exists"])
def test_two_moderators_banning_one_author_at_once_make_one_ban(app, site, db, known):
    """The second moderator's action waits for the first one's transaction, then is refused (already banned, or a
    conflict on the author's first standing row): never two bans, never a 500. (With a standing row already there,
    the row lock is PostgreSQL's ``FOR UPDATE``; SQLite has none.)"""
    import threading

    add_comment(db, site.id, "Texte", author_id="u-race")
    db.commit()
    if known:
        if db.get_bind().dialect.name != "postgresql":
            pytest.skip("row locks: PostgreSQL")
        _act(db, site.id, "u-race", "note", reason="Déjà vu")
    vigie = app.extensions["vigie"]
    outcome = {}

    def second():
        with vigie.db.session() as other:
            try:
                act(other, other.get(Site, site.id), "u-race", "ban", actor="moderator", actor_name="lea")
                other.commit()
                outcome["second"] = "banned"
            except AuthorActionError as exc:
                other.rollback()
                outcome["second"] = exc.code

    with vigie.db.session() as first:
        act(first, first.get(Site, site.id), "u-race", "ban", actor="moderator", actor_name="camille")
        thread = threading.Thread(target=second)
        thread.start()
        first.commit()
    thread.join(30)
    assert outcome["second"] in ("already", "conflict")
    db.expire_all()
    assert len(db.scalars(select(AuthorStanding)).all()) == 1
    assert [a.actor_name for a in db.scalars(select(AuthorAction).where(AuthorAction.action == "ban"))] == ["camille"]
