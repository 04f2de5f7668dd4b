"""The moderator dashboard through HTTP: login and roles, CSRF, security headers, queues (counts, filters, cursor
pagination), actions (approve, reject with a reason, bulk, undo) and the audit log they leave."""
from __future__ import annotations

import json
import re
from datetime import datetime, timedelta, timezone

from sqlalchemy import func, select

from core.storage.models import AuditEntry, Comment
from tests.dashboard_support import PASSWORD, add_comment, add_user, csrf_from, login


def _decide(client, token, ids, status, reason=None, query="tab=flagged"):
    return client.post("/actions/decide", json={"ids": ids, "status": status, "reason": reason, "query": query},
                       headers={"X-CSRFToken": token})


def test_every_page_needs_a_login(client, site):
    for path in ("/", "/queue?tab=all", "/audit", "/stats", "/admin/sites", "/admin/users", "/comments/1",
                 "/comments/1/panel", "/queue/cards"):
        response = client.get(path)
        assert response.status_code == 302, path
        assert response.headers["Location"].startswith("/login?next=")
    assert client.post("/actions/decide", json={"ids": [1], "status": "approved"}).status_code in (400, 401)
    assert client.get("/static/app.css").status_code == 200  # assets are public (and served by Vigie)


def test_login_sets_a_protected_session_and_logout_needs_a_post(client, app):
    add_user(app, "camille")
    token = csrf_from(client.get("/login").text)
    wrong = client.post("/login", data={"username": "camille", "password": "nope-nope", "csrf_token": token})
    assert wrong.status_code == 401 and "mot de passe erroné" in wrong.text
    ok = client.post("/login?next=//evil.example/x", data={"username": "camille", "password": PASSWORD,
                                                           "csrf_token": token})
    assert ok.headers["Location"] == "/queue"  # never redirected off-site
    cookie = ok.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie
    assert client.get("/").status_code == 200
    assert client.get("/logout").status_code == 405  # no action by GET
    assert client.post("/logout", data={"csrf_token": csrf_from(client.get("/").text)}).status_code == 302
    assert client.get("/").status_code == 302


def test_forms_and_actions_need_the_csrf_token_but_the_api_does_not(client, app, site, db):
    comment = add_comment(db, site.id, "Tu es un imbécile")
    db.commit()
    add_user(app, "camille")
    login(client, "camille")
    refused = client.post("/actions/decide", json={"ids": [comment.id], "status": "approved"})
    assert refused.status_code == 400 and "rechargez la page" in refused.json["error"]["message"]
    assert client.post("/logout").status_code == 400
    db.expire_all()
    assert db.get(Comment, comment.id).status == "flagged"
    api = client.post("/api/v1/comments", json={"text": "Bonjour à tous"}, headers=site.headers)
    assert api.status_code == 202, api.text


def test_security_headers_on_every_response(client, site):
    for response in (client.get("/login"), client.get("/static/queue.js"), client.get("/healthz"),
                     client.post("/api/v1/comments", json={}, headers=site.headers)):
        csp = response.headers["Content-Security-Policy"]
        assert "script-src 'self'" in csp and "unsafe-inline" not in csp and "frame-ancestors 'none'" in csp
        assert response.headers["X-Frame-Options"] == "DENY"
        assert response.headers["X-Content-Type-Options"] == "nosniff"


def test_moderators_cannot_reach_admin_screens(client, app, site):
    add_user(app, "camille")
    token = login(client, "camille")
    assert client.get("/admin/sites").status_code == 403
    assert client.post(f"/admin/sites/{site.id}", data={"csrf_token": token, "name": "x"}).status_code == 403
    assert client.post(f"/admin/sites/{site.id}/keys", data={"csrf_token": token}).status_code == 403
    assert "/admin/sites" not in client.get("/").text
    assert "Accès refusé" in client.get("/admin/users").text  # an error page in the dashboard's frame


def _arrange_queue(db, site_id, other_site_id):
    now = datetime.now(timezone.utc)
    ids = {"flagged": [], "approved": [], "rejected": [], "pending": []}
    for i in range(40):
        c = add_comment(db, site_id if i % 4 else other_site_id, f"commentaire numéro {i}", score=round(0.5 + i / 100, 2),
                        author_id=f"user{i % 3}", author_name=f"Lecteur {i % 3}")
        c.received_at = now - timedelta(days=i % 5)
        ids["flagged"].append(c.id)
    for i in range(7):
        ids["approved"].append(add_comment(db, site_id, f"merci {i}", score=0.05, status="approved").id)
    for i in range(3):
        ids["rejected"].append(add_comment(db, site_id, f"ordure {i}", score=0.97, status="rejected").id)
    pending = Comment(site_id=site_id, text="pas encore lu")
    db.add(pending)
    db.flush()
    ids["pending"].append(pending.id)
    db.commit()
    return ids


def test_queue_counts_cursor_pages_and_filters(client, app, site, db):
    from core.keys import create_site

    other, _, _ = create_site(db, "ouest-test", "Ouest (test)")
    ids = _arrange_queue(db, site.id, other.id)
    add_user(app, "camille")
    login(client, "camille")
    page = client.get("/")
    counts = dict(re.findall(r'data-count="(\w+)">(\d+)<', page.text))
    assert counts == {"flagged": "40", "reported": "0", "pending": "1", "approved": "7", "rejected": "3", "all": "51"}

    # Walking the flagged queue by cursor (25 a page) visits every comment once, highest score first.
    seen, cursor = [], ""
    while True:
        response = client.get(f"/queue/cards?tab=flagged&sort=score&cursor={cursor}")
        seen += [int(x) for x in re.findall(r'data-id="(\d+)"', response.text)]
        cursor = response.headers["X-Next-Cursor"]
        if not cursor:
            break
    assert sorted(seen) == sorted(ids["flagged"]) and len(seen) == 40
    scores = {c.id: c.score for c in db.scalars(select(Comment).where(Comment.id.in_(seen)))}
    assert [scores[i] for i in seen] == sorted(scores.values(), reverse=True)

    newest = re.findall(r'data-id="(\d+)"', client.get("/?tab=all&sort=time").text)
    assert [int(x) for x in newest] == sorted(ids["pending"] + ids["rejected"] + ids["approved"] + ids["flagged"],
                                              reverse=True)[:25]

    def flagged_ids(query):
        return {int(x) for x in re.findall(r'data-id="(\d+)"', client.get(f"/queue/cards?tab=flagged&{query}").text)}

    assert len(flagged_ids(f"site={other.id}")) == 10
    assert flagged_ids("q=num%C3%A9ro%2012") == {ids["flagged"][12]}
    # Accents and case do not matter: "numero" and "NUMÉRO" find "numéro".
    assert flagged_ids("q=numero%2012") == flagged_ids("q=NUM%C3%89RO%2012") == {ids["flagged"][12]}
    assert flagged_ids("q=%25") == set() and flagged_ids("q=_") == set()  # LIKE wildcards are plain characters

    # Oldest first, to work a queue in order: every flagged comment once, by arrival, over cursor pages.
    walked, cursor = [], ""
    while True:
        response = client.get(f"/queue/cards?tab=flagged&sort=oldest&cursor={cursor}")
        walked += [int(x) for x in re.findall(r'data-id="(\d+)"', response.text)]
        cursor = response.headers["X-Next-Cursor"]
        if not cursor:
            break
    assert walked == sorted(ids["flagged"])
    assert len(flagged_ids("author=user1")) == 13 and len(flagged_ids("author=Lecteur%201")) == 13
    today = datetime.now(timezone.utc).date()
    assert len(flagged_ids(f"since={today}&until={today}")) == 8
    assert len(flagged_ids("label=toxicity&min=0.85")) == 5
    assert client.get(f"/queue/counts?tab=flagged&site={other.id}").json["counts"] == {
        "flagged": 10, "reported": 0, "pending": 0, "approved": 0, "rejected": 0, "all": 10}
    filtered_counts = dict(re.findall(r'data-count="(\w+)">(\d+)<', client.get(f"/?site={other.id}").text))
    assert filtered_counts["flagged"] == "10" and filtered_counts["all"] == "10"
    for bad in ("tab=deleted", "sort=random", "label=spam", "since=yesterday", "cursor=t1&sort=score", "min=2"):
        response = client.get(f"/queue?{bad}")
        assert response.status_code == 400, bad


def test_approve_reject_with_reason_bulk_and_undo_are_audited(client, app, site, db):
    a, b, c = (add_comment(db, site.id, f"texte {i}").id for i in range(3))
    db.commit()
    add_user(app, "camille")
    token = login(client, "camille")

    approved = _decide(client, token, [a], "approved")
    assert approved.status_code == 200
    assert approved.json["counts"]["flagged"] == 2 and approved.json["counts"]["approved"] == 1
    rejected = _decide(client, token, [b, c], "rejected", reason="Insulte")
    assert rejected.json["changed"] == [b, c] or sorted(rejected.json["changed"]) == [b, c]
    entries = db.scalars(select(AuditEntry).where(AuditEntry.actor == "moderator").order_by(AuditEntry.id)).all()
    assert [(e.comment_id, e.status_from, e.status_to, e.actor_name) for e in entries][:1] == [
        (a, "flagged", "approved", "camille")]
    assert {e.note for e in entries[1:]} == {"Insulte"}

    undone = client.post("/actions/undo", json={"query": "tab=flagged"}, headers={"X-CSRFToken": token})
    assert sorted(undone.json["undone"]) == [b, c] and undone.json["counts"]["flagged"] == 2
    db.expire_all()
    assert [db.get(Comment, i).status for i in (a, b, c)] == ["approved", "flagged", "flagged"]
    assert db.scalar(select(func.count()).select_from(AuditEntry).where(AuditEntry.action == "undo")) == 2

    audit = client.get("/audit?actor=moderator&who=camille").text
    assert audit.count('class="audit-row"') == 5 and "Insulte" in audit


def test_bad_actions_get_a_json_4xx(client, app, site, db):
    comment = add_comment(db, site.id, "texte")
    db.commit()
    add_user(app, "camille")
    token = login(client, "camille")
    cases = [({"ids": [], "status": "approved"}, 400), ({"ids": [comment.id], "status": "deleted"}, 400),
             ({"ids": [comment.id], "status": "rejected", "reason": "Pas dans la liste"}, 400),
             ({"ids": [comment.id], "status": "approved", "reason": "Insulte"}, 400),
             ({"ids": [comment.id, 999999], "status": "approved"}, 404), ({"ids": "1"}, 400)]
    for body, status in cases:
        response = client.post("/actions/decide", json=body, headers={"X-CSRFToken": token})
        assert response.status_code == status, body
        assert response.json["error"]["message"]
    assert client.post("/actions/undo", json={}, headers={"X-CSRFToken": token}).status_code == 409
    db.expire_all()
    assert db.get(Comment, comment.id).status == "flagged"


def test_card_shows_highlights_parent_author_history_and_escapes_everything(client, app, site, db):
    parent = add_comment(db, site.id, "Le gouvernement a raison", score=0.1, status="approved", external_id="p1",
                         author_id="u2", author_name="Alice")
    text = "<script>alert(1)</script> Quel m e r d e, espèce d'abruti"
    start = text.index("m e r d e")
    comment = add_comment(
        db, site.id, text, score=0.93, actor="rule", parent_id="p1", author_id="u1",
        author_name='<img src=x onerror="alert(1)">', thread_id="article-42", thread_url="javascript:alert(1)",
        reasons=[{"kind": "word", "list": "suspect", "term": "merde", "start": start, "end": start + 9,
                  "text": "m e r d e"}],
        spans=[{"start": text.index("abruti"), "end": len(text), "text": "abruti", "weight": 0.41}])
    for i in range(3):
        add_comment(db, site.id, f"autre {i}", author_id="u1", status="rejected" if i else "flagged")
    db.commit()
    add_user(app, "camille")
    login(client, "camille")
    html = client.get("/").text
    assert "<script>alert(1)</script>" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "<img src=x" not in html and "&lt;img src=x onerror=" in html
    assert 'href="javascript:' not in html
    assert re.search(r'<mark class="hl hl-word" title="Liste « suspects » : merde">m e r d e</mark>', html)
    assert re.search(r'<mark class="hl hl-model" title="Le mot qui a le plus pesé dans le score \(poids 0,41\)">abruti</mark>', html)
    assert "En réponse à</span> <b>Alice</b>" in html and "Le gouvernement a raison" in html
    panel = client.get(f"/comments/{comment.id}/panel").text
    assert re.search(r'data-stat="total">4<', panel) and re.search(r'data-stat="rejected">2<', panel)
    assert "Liste de mots" in panel and "Mot de la liste « suspects » : « merde »" in panel


def test_stats_are_aggregated_per_day_source_score_and_overturn(client, app, site, db):
    flagged = [add_comment(db, site.id, f"t{i}", score=0.55 + i * 0.1, scores={"insult": 0.55 + i * 0.1})
               for i in range(4)]
    add_comment(db, site.id, "ok", score=0.1, status="approved")
    db.commit()
    add_user(app, "camille")
    token = login(client, "camille")
    _decide(client, token, [flagged[0].id, flagged[1].id], "approved")  # the model was wrong on the two lowest
    _decide(client, token, [flagged[3].id], "rejected")
    html = client.get("/stats").text
    data = json.loads(re.search(r'<script type="application/json" id="stats-data">(.*?)</script>', html, re.S).group(1))
    assert sum(d["comments"] for d in data["per_day"]) == 5
    assert data["per_day"][-1]["flag_rate"] == 0.8
    sources = {(r["actor"], r["status"]): r["count"] for r in data["by_source"]}
    assert sources[("model", "flagged")] == 4 and sources[("moderator", "approved")] == 2
    assert sum(data["score_buckets"]) == 5 and data["score_buckets"][5] == 1 and data["score_buckets"][8] == 1
    insult = {row["threshold"]: row for row in data["overturns"]["labels"]["insult"]}
    assert data["overturns"]["reviewed"] == 3
    assert insult[0.5] == {"threshold": 0.5, "above": 3, "approved_above": 2, "rejected_below": 0,
                           "overturn_rate": 0.6667}
    assert insult[0.7]["above"] == 1 and insult[0.7]["approved_above"] == 0 and insult[0.7]["rejected_below"] == 0
    assert client.get("/stats?days=0").status_code == 400


def test_a_moderator_decision_is_sent_to_the_sites_callback(client, app, site, db):
    from core.storage.models import Site, WebhookDelivery

    db.get(Site, site.id).callback_url = "https://example.org/vigie-hook"
    comment = add_comment(db, site.id, "texte limite")
    db.commit()
    add_user(app, "camille")
    token = login(client, "camille")
    assert _decide(client, token, [comment.id], "rejected", reason="Spam").status_code == 200
    last = db.scalars(select(WebhookDelivery).where(WebhookDelivery.comment_id == comment.id)
                      .order_by(WebhookDelivery.id.desc())).first()
    assert last.payload["comment"]["status"] == "rejected" and last.url == "https://example.org/vigie-hook"
    assert last.payload["comment"]["decided_by"] == "moderator"
    assert last.payload["comment"]["reasons"] == [{"kind": "reason", "text": "Spam"}]


def test_a_large_bulk_action_can_be_undone_and_keeps_the_session_cookie_small(client, app, site, db):
    ids = [add_comment(db, site.id, f"spam {i}", score=0.7).id for i in range(150)]
    db.commit()
    add_user(app, "camille")
    token = login(client, "camille")
    response = _decide(client, token, ids, "rejected", reason="Spam")
    assert response.status_code == 200 and response.json["counts"]["rejected"] == 150
    assert len(response.headers.get("Set-Cookie", "")) < 1000  # the undo history is not in the cookie
    undone = client.post("/actions/undo", json={"query": "tab=flagged"}, headers={"X-CSRFToken": token})
    assert len(undone.json["undone"]) == 150 and undone.json["counts"]["flagged"] == 150
    assert client.get("/").status_code == 200  # still logged in


def test_repeated_wrong_passwords_lock_the_login_for_a_while(client, app):
    add_user(app, "camille")
    token = csrf_from(client.get("/login").text)
    for _ in range(10):
        assert client.post("/login", data={"username": "camille", "password": "guess-guess",
                                           "csrf_token": token}).status_code == 401
    locked = client.post("/login", data={"username": "camille", "password": PASSWORD, "csrf_token": token})
    assert locked.status_code == 429 and "Trop de tentatives échouées" in locked.text


def test_out_of_range_or_odd_numbers_get_a_4xx_never_a_500(client, app, site):
    add_user(app, "root", role="admin")
    token = login(client, "root")
    huge = "9" * 30
    for path in (f"/comments/{huge}", f"/comments/{huge}/panel", f"/queue?site={huge}", "/queue?site=%C2%B2",
                 f"/queue?sort=time&cursor=t{huge}", "/queue?cursor=snan:1", "/queue?label=insult&min=nan",
                 f"/audit?comment={huge}", "/audit?before=%C2%B2", f"/stats?site={huge}", "/stats?days=%C2%B2"):
        assert 400 <= client.get(path).status_code < 500, path
    for body in ({"ids": [int(huge)], "status": "approved"}, {"ids": [0], "status": "approved"}):
        assert client.post("/actions/decide", json=body, headers={"X-CSRFToken": token}).status_code == 400
    assert client.post(f"/admin/sites/{huge}/keys", data={"csrf_token": token}).status_code == 404


def test_nul_characters_in_queries_and_forms_get_a_400(client, app, site):
    add_user(app, "camille")
    token = csrf_from(client.get("/login").text)
    assert client.post("/login", data={"username": "cam\x00ille", "password": PASSWORD,
                                       "csrf_token": token}).status_code == 400
    token = login(client, "camille")
    for path in ("/queue?q=a%00b", "/queue?author=%00", "/audit?who=%00"):
        assert client.get(path).status_code == 400, path
    comment_query = client.post("/actions/decide", json={"ids": [1], "status": "approved", "query": "q=%00"},
                                headers={"X-CSRFToken": token})
    assert comment_query.status_code == 404  # no such comment; the odd query did no harm


def test_a_reason_given_through_the_api_is_shown_in_the_audit_log(client, app, site, db):
    """The API and the dashboard record a moderator's reason in one shape, and the dashboard renders it."""
    comment = add_comment(db, site.id, "texte à juger")
    db.commit()
    answer = client.post(f"/api/v1/comments/{comment.id}/decision", headers=site.headers,
                         json={"decision": "reject", "reason": "Hors sujet", "moderator": "Camille"})
    assert answer.status_code == 200
    assert answer.get_json()["decision"]["reasons"] == [{"kind": "reason", "text": "Hors sujet"}]
    add_user(app, "camille")
    login(client, "camille")
    audit = client.get("/audit?actor=moderator").text
    assert '<span class="reason">Hors sujet</span>' in audit
