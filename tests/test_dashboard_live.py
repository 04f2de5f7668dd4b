"""The live queue and two moderators on one comment, through HTTP: /queue/live tells an open page what changed
since its cursors (another moderator's decisions with their name, comments new to its tab, the counts), and a
decision made on a status another person has changed since is refused with who and when, changing nothing."""
from __future__ import annotations

import re

from sqlalchemy import func, select

from core.decisions import record_decision
from core.storage.models import AuditEntry, Comment
from tests.dashboard_support import add_comment, add_user, login


def _cursors(html: str) -> dict[str, str]:
    return {"since_event": re.search(r'data-since-event="(\d+)"', html).group(1),
            "since_comment": re.search(r'data-since-comment="(\d+)"', html).group(1)}


def _version(html: str, comment_id: int) -> str:
    return re.search(rf'id="c-{comment_id}"[^>]*data-version="([^"]+)"', html).group(1)


def _two_moderators(app):
    add_user(app, "camille")
    add_user(app, "marie")
    camille, marie = app.test_client(), app.test_client()
    return camille, login(camille, "camille"), marie, login(marie, "marie")


def _decide(client, token, ids, status, seen=None, **extra):
    body = {"ids": ids, "status": status, "query": "tab=flagged", **extra}
    if seen is not None:
        body["seen"] = seen
    return client.post("/actions/decide", json=body, headers={"X-CSRFToken": token})


def test_a_decision_on_a_comment_another_moderator_decided_meanwhile_is_refused_with_who(app, site, db):
    comment = add_comment(db, site.id, "Commentaire que deux modérateurs ouvrent en même temps")
    db.commit()
    camille, camille_token, marie, marie_token = _two_moderators(app)
    seen_by_camille = _version(camille.get("/queue").text, comment.id)
    seen_by_marie = _version(marie.get("/queue").text, comment.id)
    assert seen_by_camille == seen_by_marie

    assert _decide(marie, marie_token, [comment.id], "rejected", {comment.id: seen_by_marie}).status_code == 200
    refused = _decide(camille, camille_token, [comment.id], "approved", {comment.id: seen_by_camille})
    assert refused.status_code == 409
    error = refused.json["error"]
    assert error["code"] == "already_decided"
    assert re.fullmatch(r"Déjà rejeté par marie à \d\d:\d\d\.", error["message"]), error["message"]
    assert error["conflicts"][0]["id"] == comment.id and error["conflicts"][0]["by"] == "marie"
    db.expire_all()
    assert db.get(Comment, comment.id).status == "rejected"
    assert db.scalar(select(func.count()).select_from(AuditEntry).where(AuditEntry.actor_name == "camille")) == 0

    # Having seen Marie's decision (the version the refusal and the live queue give), Camille may overrule it.
    again = _decide(camille, camille_token, [comment.id], "approved", {comment.id: error["conflicts"][0]["version"]})
    assert again.status_code == 200, again.text
    db.expire_all()
    assert db.get(Comment, comment.id).status == "approved"


def test_a_bulk_decision_with_one_stale_comment_decides_nothing(app, site, db):
    first = add_comment(db, site.id, "Premier commentaire")
    second = add_comment(db, site.id, "Second commentaire")
    db.commit()
    camille, camille_token, marie, marie_token = _two_moderators(app)
    html = camille.get("/queue").text
    seen = {first.id: _version(html, first.id), second.id: _version(html, second.id)}
    assert _decide(marie, marie_token, [second.id], "approved").status_code == 200
    refused = _decide(camille, camille_token, [first.id, second.id], "rejected", seen)
    assert refused.status_code == 409
    assert f"n° {second.id}" in refused.json["error"]["message"] and "approuvé par marie" in refused.json["error"]["message"]
    db.expire_all()
    assert [db.get(Comment, i).status for i in (first.id, second.id)] == ["flagged", "approved"]


def test_the_model_deciding_meanwhile_or_the_same_moderator_elsewhere_is_no_conflict(app, site, db):
    pending = Comment(site_id=site.id, text="Pas encore évalué")
    db.add(pending)
    db.commit()
    camille, camille_token, _, _ = _two_moderators(app)
    seen = _version(camille.get("/queue?tab=pending").text, pending.id)
    assert seen == "pending"
    record_decision(db, db.get(Comment, pending.id), "flagged", actor="model")  # scored meanwhile
    db.commit()
    assert _decide(camille, camille_token, [pending.id], "approved", {pending.id: seen}).status_code == 200
    # Camille again, from a second tab that still shows the comment as it was: she knows what she decided.
    assert _decide(camille, camille_token, [pending.id], "rejected", {pending.id: seen}).status_code == 200
    # A client that sends no version (older pages, scripts) is answered as before.
    assert _decide(camille, camille_token, [pending.id], "approved").status_code == 200


def test_the_live_poll_reports_decisions_elsewhere_new_comments_and_counts(app, client, site, db):
    decided = add_comment(db, site.id, "Décidé par une autre modératrice")
    db.commit()
    camille, camille_token, marie, marie_token = _two_moderators(app)
    cursors = _cursors(camille.get("/queue?tab=flagged").text)

    assert _decide(marie, marie_token, [decided.id], "rejected", reason=None).status_code == 200
    arrived = add_comment(db, site.id, "Un nouveau commentaire signalé par le modèle")
    waiting = Comment(site_id=site.id, text="En attente du modèle")
    db.add(waiting)
    db.commit()

    live = camille.get("/queue/live", query_string={"tab": "flagged", **cursors})
    assert live.status_code == 200
    data = live.json
    change = {c["id"]: c for c in data["changes"]}[decided.id]
    assert change["status"] == "rejected" and change["by"] == "marie" and change["status_name"] == "rejeté"
    assert change["version"] == _version(marie.get("/queue?tab=all").text, decided.id)
    assert data["new"] == [arrived.id]  # the pending one is not in this tab
    assert data["counts"]["flagged"] == 1 and data["counts"]["rejected"] == 1 and data["counts"]["pending"] == 1

    pending_tab = camille.get("/queue/live", query_string={"tab": "pending", **cursors}).json
    assert pending_tab["new"] == [waiting.id]
    # Asked again from the cursors it returned, nothing is new (a few ids are read again, and filtered out).
    again = camille.get("/queue/live", query_string={"tab": "flagged", "since_event": data["since_event"],
                                                     "since_comment": data["since_comment"]}).json
    assert set(again["new"]) <= {arrived.id}  # ids read again are filtered by the page; never others
    assert int(again["since_event"]) >= int(data["since_event"])

    cards = camille.get("/queue/live/cards", query_string={"tab": "flagged", "ids": f"{arrived.id},{decided.id}"})
    assert cards.status_code == 200
    assert f'id="c-{arrived.id}"' in cards.text and f'id="c-{decided.id}"' not in cards.text  # still in this tab only


def test_the_live_poll_refuses_bad_cursors_and_needs_a_login(app, client, site):
    anonymous = client.get("/queue/live?since_event=0&since_comment=0", headers={"Accept": "application/json"})
    assert anonymous.status_code == 401
    add_user(app, "camille")
    login(client, "camille")
    for query in ("since_event=-1&since_comment=0", "since_event=1e9&since_comment=0", "since_event=0&since_comment=x",
                  "tab=nope&since_event=0&since_comment=0"):
        response = client.get("/queue/live?" + query, headers={"Accept": "application/json"})
        assert response.status_code == 400, query
        assert response.json["error"]["message"]
    for ids in ("", "a,b", ",".join(str(i) for i in range(1, 200))):
        assert client.get("/queue/live/cards", query_string={"ids": ids}).status_code == 400
    reported = client.get("/queue/live?tab=reported&since_event=0&since_comment=0",
                          headers={"Accept": "application/json"})
    assert reported.status_code == 200, reported.text
    reported = reported.json  # Signalés
    assert reported["new"] == [] and reported["counts"]["flagged"] == 0
    fresh = client.get("/queue/live", headers={"Accept": "application/json"}).json  # no cursors: starts from now
    assert fresh["changes"] == [] and fresh["new"] == []


def test_the_poll_says_who_else_has_the_focused_comment_open(app, site, db):
    comment = add_comment(db, site.id, "Commentaire ouvert par deux modératrices")
    other = add_comment(db, site.id, "Un autre")
    db.commit()
    camille, _, marie, _ = _two_moderators(app)
    cursors = _cursors(camille.get("/queue").text)

    def poll(client, viewing):
        return client.get("/queue/live", query_string={**cursors, "viewing": viewing}).json

    assert poll(camille, comment.id)["viewers"] == []
    assert poll(marie, comment.id)["viewers"] == ["camille"]
    assert poll(camille, comment.id)["viewers"] == ["marie"]
    assert poll(camille, other.id)["viewers"] == []  # nobody else on that one
    assert poll(marie, other.id)["viewers"] == ["camille"]
    assert camille.get("/queue/live", query_string={**cursors, "viewing": "x"}).status_code == 400
