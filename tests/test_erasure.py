"""Erasure (GDPR art. 17) and retention: the text, original text, author and spans are gone from the database,
Redis and the dashboard; a tombstone keeps scores and decision so statistics and the audit log still add up."""
from __future__ import annotations

import json
import re
from datetime import timedelta

import pytest
from click.testing import CliRunner
from sqlalchemy import func, select, text, update

from core import erasure
from core.cli import main
from core.connection import redis_url_for
from core.queues import PENDING_KEY, SYNC_REQUEST_KEY
from core.storage.models import AuditEntry, Base, Comment, ScoreLabel, Site, WebhookDelivery, utcnow
from tests.dashboard_support import add_comment, add_user, csrf_from, login

SECRET_WORDS = "Zéphyrin-Quatremarres"  # in every text below, never anywhere else
TEXT = f"{SECRET_WORDS} écrit : bande de crétins, vous ne savez pas lire."
WORD_HIT = {"kind": "word", "list": "banned", "term": "crétin", "start": 36, "end": 43, "text": "crétins"}


def db_dump(app) -> str:
    """Every row of every table, as text."""
    out = []
    with app.extensions["vigie"].db.engine.connect() as conn:
        for table in Base.metadata.sorted_tables:
            out += [repr(tuple(row)) for row in conn.execute(table.select())]
    return "\n".join(out)


def redis_dump(app) -> bytes:
    redis = app.extensions["vigie"].redis
    return b"\n".join((redis.dump(key) or b"") + key for key in redis.scan_iter(count=1000))


def absent_everywhere(app, *fragments: str) -> None:
    rows, cache = db_dump(app), redis_dump(app)
    for fragment in fragments:
        assert fragment not in rows, fragment
        assert fragment.encode() not in cache and json.dumps(fragment)[1:-1].encode() not in cache, fragment


def stats_of(client) -> dict:
    html = client.get("/stats").text
    return json.loads(re.search(r'<script type="application/json" id="stats-data">(.*?)</script>', html, re.S).group(1))


@pytest.fixture
def arranged(app, site, db):
    """A site with a callback (deliveries hold the decision's reasons), an author with two comments (one with a
    word-list hit and spans, one Coral-style with HTML and a content-keyed id), another author, and a text
    sent back through suggestscore."""
    db.execute(update(Site).where(Site.id == site.id).values(callback_url="https://example.org/hook"))
    first = add_comment(db, site.id, TEXT, status="rejected", reasons=[WORD_HIT], author_id="a-1",
                        author_name="Zéphyrin Q.", spans=[{"start": 0, "end": 10, "text": SECRET_WORDS[:10],
                                                           "weight": 0.5}], external_id="ext-1")
    second = add_comment(db, site.id, f"Re: {SECRET_WORDS}, encore", status="approved", author_id="a-1",
                         author_name="Zéphyrin Q.", original_text=f"<p>Re: {SECRET_WORDS}, encore</p>",
                         external_id="coral:" + "ab" * 20 + ":123", source="coral")
    other = add_comment(db, site.id, "Un autre lecteur, poli.", status="approved", author_id="b-2", author_name="Bea")
    db.add(ScoreLabel(site_id=site.id, text=TEXT, attribute="toxicity", score=0.9))
    db.commit()
    return first.id, second.id, other.id


def test_deleting_a_comment_erases_it_from_database_redis_and_dashboard(app, client, site, db, arranged):
    first, second, other = arranged
    redis = app.extensions["vigie"].redis
    redis.set(SYNC_REQUEST_KEY + "in-flight", json.dumps({"texts": [TEXT], "deadline": 0}), ex=60)
    add_user(app, "root", role="admin")
    login(client, "root")
    stats_before = stats_of(client)
    audit_before = db.scalar(select(func.count()).select_from(AuditEntry))
    assert SECRET_WORDS in client.get(f"/comments/{first}").text

    response = client.delete(f"/api/v1/comments/{first}", headers=site.headers)
    assert response.status_code == 200, response.text
    body = response.get_json()
    assert body["erased"] is True and body["comments"] == 1 and body["redis_keys"] >= 1

    # The tombstone: scores, decision, external id and audit stay; text, author, spans and word copies go.
    got = client.get(f"/api/v1/comments/{first}", headers=site.headers).get_json()
    assert got["text"] == "" and got["author_id"] is None and got["author_name"] is None and got["spans"] is None
    assert got["status"] == "rejected" and got["scores"]["toxicity"] == 0.9 and got["external_id"] == "ext-1"
    assert got["erased_at"] is not None
    assert got["decision"]["reasons"] == [{k: v for k, v in WORD_HIT.items() if k != "text"}]
    delivery = db.scalar(select(WebhookDelivery).where(WebhookDelivery.comment_id == first))
    assert "text" not in delivery.payload["comment"]["reasons"][0]
    assert redis.get(SYNC_REQUEST_KEY + "in-flight") is None
    page = client.get(f"/comments/{first}").text
    assert SECRET_WORDS not in page and "crétins" not in page and "Zéphyrin Q." not in page
    # The other comment of the author is untouched by a single-comment erasure.
    assert db.scalar(select(Comment.text).where(Comment.id == second)).startswith("Re: ")
    # Statistics are whole, and the erasure is audited: who, when, what.
    assert stats_of(client)["by_source"] == stats_before["by_source"]
    assert stats_of(client)["per_day"] == stats_before["per_day"]
    entries = list(db.scalars(select(AuditEntry).where(AuditEntry.comment_id == first).order_by(AuditEntry.id)))
    assert [e.action for e in entries] == ["rejected", "erased"]
    assert entries[-1].actor == "admin" and entries[-1].actor_name == f"api:{site.slug}"
    assert db.scalar(select(func.count()).select_from(AuditEntry)) == audit_before + 1
    # Erasing again answers the same; another site's key sees nothing.
    assert client.delete(f"/api/v1/comments/{first}", headers=site.headers).status_code == 200
    assert client.delete("/api/v1/comments/999999", headers=site.headers).status_code == 404
    assert client.delete(f"/api/v1/comments/{first}").status_code == 401


def test_deleting_an_author_erases_all_their_comments_and_nothing_else(app, client, site, db, arranged):
    first, second, other = arranged
    from core.author_actions import act

    site_row = db.get(Site, site.id)
    act(db, site_row, "a-1", "note", actor="moderator", actor_name="camille",
        reason=f"{SECRET_WORDS} récidive sous un autre pseudo")
    act(db, site_row, "a-1", "ban", actor="moderator", actor_name="camille", reason="Insultes répétées")
    act(db, site_row, "b-2", "warn", actor="moderator", actor_name="camille", reason="Hors sujet")
    db.commit()
    response = client.delete("/api/v1/authors/a-1", headers=site.headers)
    assert response.status_code == 200, response.text
    body = response.get_json()
    assert body["comments"] == 2 and body["score_labels"] == 1 and body["author_id"] == "a-1"
    assert body["author_actions"] == 2 and body["author_standings"] == 1 and body["author_audit_entries"] == 2
    absent_everywhere(app, SECRET_WORDS, "Zéphyrin Q.", "crétins", "Insultes répétées")
    assert "Hors sujet" in db_dump(app)  # another author's history is untouched
    assert "a-1" not in db_dump(app)  # the audit keeps a digest of the author id, not the id
    rows = {c.id: c for c in db.scalars(select(Comment))}
    assert rows[second].external_id is None  # a Coral id derived from author and body is personal data
    assert rows[other].text == "Un autre lecteur, poli." and rows[other].author_id == "b-2"
    summary = db.scalar(select(AuditEntry).where(AuditEntry.action == "erased", AuditEntry.comment_id.is_(None)))
    assert summary.reasons[0]["comments"] == 2
    assert summary.reasons[0]["author"] == erasure.author_digest(site.id, "a-1")
    assert db.scalar(select(func.count()).select_from(Comment)) == 3  # tombstones: counts add up
    assert client.delete("/api/v1/authors/" + "x" * 201, headers=site.headers).status_code == 400


def test_erasing_a_pending_comment_takes_it_out_of_the_queue(app, client, site, db):
    response = client.post("/api/v1/comments", json={"text": TEXT, "author_id": "a-1"}, headers=site.headers)
    comment_id = response.get_json()["id"]
    redis = app.extensions["vigie"].redis
    assert redis.zscore(PENDING_KEY, str(comment_id)) is not None
    assert client.delete(f"/api/v1/comments/{comment_id}", headers=site.headers).status_code == 200
    assert redis.zscore(PENDING_KEY, str(comment_id)) is None
    got = client.get(f"/api/v1/comments/{comment_id}", headers=site.headers).get_json()
    assert got["status"] == "rejected" and got["decision"]["decided_by"] == "system"
    absent_everywhere(app, SECRET_WORDS)


def test_dashboard_erasure_is_for_admins(app, client, site, db, arranged):
    first, second, other = arranged
    add_user(app, "camille")
    token = login(client, "camille")
    assert "erase-comment" not in client.get(f"/comments/{first}").text
    assert client.post(f"/comments/{first}/erase", data={"csrf_token": token}).status_code == 403
    client.post("/logout", data={"csrf_token": token})
    add_user(app, "root", role="admin")
    token = login(client, "root")
    page = client.get(f"/comments/{first}").text
    assert 'id="erase-comment"' in page and 'id="erase-author"' in page
    response = client.post(f"/comments/{first}/erase-author", data={"csrf_token": token, "author_id": "a-1"})
    assert response.status_code == 302
    page = client.get(f"/comments/{first}", headers={"Accept-Language": "en"}).text
    assert SECRET_WORDS not in page and "Zéphyrin Q." not in page and "Text erased" in page
    absent_everywhere(app, SECRET_WORDS, "Zéphyrin Q.")
    entries = db.scalars(select(AuditEntry).where(AuditEntry.action == "erased", AuditEntry.actor_name == "root"))
    assert len(list(entries)) == 3  # one per comment and the author summary
    assert "erased" in client.get("/audit?action=erased").text


def test_cli_erases_an_author(app, settings, site, db, arranged):
    env = {"VIGIE_DATABASE_URL": settings.resolved_database_url, "VIGIE_REDIS_URL": redis_url_for(settings),
           "VIGIE_DATA_DIR": str(settings.data_dir), "VIGIE_SECRET_KEY": "test-secret"}
    result = CliRunner().invoke(main, ["erase", "--site", site.slug, "--author", "a-1", "--by", "dpo", "--json"],
                                env=env, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["comments"] == 2
    absent_everywhere(app, SECRET_WORDS)
    bad = CliRunner().invoke(main, ["erase", "--site", "nope", "--author", "a-1"], env=env)
    assert bad.exit_code != 0 and "no site" in bad.output


def test_retention_purges_old_decided_texts_on_schedule(app, site, db):
    old = add_comment(db, site.id, TEXT, status="approved", author_id="a-1")
    recent = add_comment(db, site.id, "Un commentaire récent.", status="approved", author_id="b-2")
    pending = Comment(site_id=site.id, text="Encore en attente, très ancien.")
    db.add(pending)
    db.commit()
    long_ago = utcnow() - timedelta(days=40)
    db.execute(update(Comment).where(Comment.id.in_([old.id, pending.id]))
               .values(received_at=long_ago, decided_at=long_ago))
    db.commit()
    services = app.extensions["vigie"]
    services.settings.retention_days = 0
    assert erasure.purge_if_due(services) is None  # off by default
    services.settings.retention_days = 30
    try:
        assert erasure.purge_if_due(services) == 1  # what the workers' reconciler thread runs
        assert erasure.purge_if_due(services) is None  # at most once per interval across workers
    finally:
        services.settings.retention_days = 0
    db.expire_all()
    texts = dict(db.execute(select(Comment.id, Comment.text)).all())
    assert texts[old.id] == "" and texts[recent.id] == "Un commentaire récent."
    assert texts[pending.id] == "Encore en attente, très ancien."  # never decided: kept
    absent_everywhere(app, SECRET_WORDS)
    entry = db.scalar(select(AuditEntry).where(AuditEntry.action == "retention"))
    assert entry.actor == "system" and entry.reasons[0]["comments"] == 1 and entry.reasons[0]["days"] == 30
    assert db.scalar(select(func.count()).select_from(Comment).where(Comment.status == "approved")) == 2


def test_an_author_id_with_a_slash_can_be_erased(app, client, site, db):
    client.post("/api/v1/comments", json={"text": TEXT, "author_id": "forum/a-1"}, headers=site.headers)
    response = client.delete("/api/v1/authors/forum/a-1", headers=site.headers)
    assert response.status_code == 200 and response.get_json()["comments"] == 1
    absent_everywhere(app, SECRET_WORDS)
