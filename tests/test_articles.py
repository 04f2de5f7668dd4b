"""Articles: ingest keeps each thread's title and http(s) URL (REST, signed webhook, Coral), the dashboard lists
articles with counts and flag rate, the queue's ``thread`` filter shows one article's comments, cards name the
article, and the conversation view shows parents and replies in order."""
from __future__ import annotations

import re

from sqlalchemy import func, select

from core import articles
from core.storage.models import Article, Comment
from tests.dashboard_support import add_comment, add_user, login
from tests.integration_support import coral_signed, vigie_signed


def post(client, site, body):
    return client.post("/api/v1/comments", json=body, headers=site.headers)


def test_ingest_keeps_the_article_title_and_url(client, site, db):
    first = post(client, site, {"text": "Premier !", "external_id": "a1", "thread_id": "story-1",
                                "thread_title": "  Tempête Ciaran : la Bretagne privée de courant ",
                                "thread_url": "https://journal.example/tempete"})
    assert first.status_code == 202
    article = db.scalar(select(Article))
    assert (article.site_id, article.thread_id) == (site.id, "story-1")
    assert article.title == "Tempête Ciaran : la Bretagne privée de courant"
    assert article.url == "https://journal.example/tempete"
    seen = article.last_seen_at
    # a later comment with an edited title updates it; one without a title keeps it; a javascript: URL is dropped
    post(client, site, {"text": "Suite", "external_id": "a2", "thread_id": "story-1",
                        "thread_title": "Tempête Ciaran : 1,2 million de foyers sans courant",
                        "thread_url": "javascript:alert(1)"})
    post(client, site, {"text": "Encore", "external_id": "a3", "thread_id": "story-1"})
    db.expire_all()
    article = db.scalar(select(Article))
    assert db.scalar(select(func.count()).select_from(Article)) == 1
    assert article.title == "Tempête Ciaran : 1,2 million de foyers sans courant"
    assert article.url == "https://journal.example/tempete" and article.last_seen_at >= seen
    # bounded: too long a title is a 400 naming the field, nothing stored
    too_long = post(client, site, {"text": "x", "thread_id": "story-2", "thread_title": "T" * 301})
    assert too_long.status_code == 400 and "thread_title" in too_long.get_json()["error"]["message"]
    assert db.scalar(select(func.count()).select_from(Comment)) == 3
    # a comment without a thread makes no article
    post(client, site, {"text": "Sans fil", "external_id": "a4"})
    assert db.scalar(select(func.count()).select_from(Article)) == 1


def test_web_url_keeps_only_http_links():
    assert articles.web_url("https://a.example/x?y=1") == "https://a.example/x?y=1"
    assert articles.web_url("HTTP://a.example") == "HTTP://a.example"
    for bad in ("javascript:alert(1)", "data:text/html,x", "//a.example", "https://", "ftp://a", "https://a b",
                "https://a.example/\nx", None, "", "https://" + "a" * 2000):
        assert articles.web_url(bad) is None, bad


def test_webhook_and_coral_bring_the_story(client, site, db):
    body, headers = vigie_signed(site.secret, {"text": "Par webhook", "external_id": "w1", "thread_id": "w-story",
                                               "thread_title": "Municipales à Lyon",
                                               "thread_url": "https://j.example/lyon"})
    assert client.post(f"/webhooks/{site.slug}", data=body, headers=headers).status_code == 202
    coral = {"action": "NEW", "comment": {"body": "<p>Par Coral</p>", "parentID": None},
             "author": {"id": "user-1", "role": "COMMENTER"},
             "story": {"id": "story-9", "url": "https://journal.example/story-9",
                       "metadata": {"title": "Réforme des retraites : ce qui change"}},
             "site": {"id": "coral-site-1"}, "tenantID": "tenant-1", "tenantDomain": "c.journal.example"}
    body, headers = coral_signed([site.secret], coral)
    assert client.post(f"/integrations/coral/{site.slug}", data=body, headers=headers).status_code in (200, 204)
    found = {a.thread_id: (a.title, a.url) for a in db.scalars(select(Article))}
    assert found == {"w-story": ("Municipales à Lyon", "https://j.example/lyon"),
                     "story-9": ("Réforme des retraites : ce qui change", "https://journal.example/story-9")}


def _arrange(db, site_id):
    """Two articles: a busy one (3 flagged, 1 approved, a reply chain) and a quiet one, seen earlier."""
    from datetime import timedelta

    from core.storage.models import utcnow
    now = utcnow()
    articles.touch(db, site_id, "quiet", "Le marché de Noël ouvre", "https://j.example/noel", now - timedelta(hours=3))
    articles.touch(db, site_id, "busy", "<script>alert('titre')</script> Tempête", "https://j.example/tempete", now)
    root = add_comment(db, site_id, "Article très juste.", score=0.02, status="approved", thread_id="busy",
                       external_id="r", author_name="Ana")
    reply = add_comment(db, site_id, "N'importe quoi, espèce d'idiot.", score=0.9, thread_id="busy",
                        external_id="r1", parent_id="r", author_name="Bob")
    other = add_comment(db, site_id, "Deuxième fil", score=0.7, thread_id="busy", external_id="s",
                        author_name="Chloé")
    deeper = add_comment(db, site_id, "Idiot toi-même.", score=0.8, thread_id="busy", external_id="r1a",
                         parent_id="r1", author_name="Ana")
    orphan = add_comment(db, site_id, "Réponse à un absent", score=0.1, status="approved", thread_id="busy",
                         external_id="o", parent_id="jamais-recu")
    quiet = add_comment(db, site_id, "Vivement décembre", score=0.6, thread_id="quiet", external_id="q")
    db.commit()
    return {"root": root.id, "reply": reply.id, "other": other.id, "deeper": deeper.id, "orphan": orphan.id,
            "quiet": quiet.id}


def test_conversation_orders_parents_and_replies(db, site):
    ids = _arrange(db, site.id)
    conv = articles.conversation(db, site.id, "busy")
    assert [(n.comment.id, n.depth, n.parent_missing) for n in conv.nodes] == [
        (ids["root"], 0, False), (ids["reply"], 1, False), (ids["deeper"], 2, False), (ids["other"], 0, False),
        (ids["orphan"], 0, True)]
    assert not conv.truncated
    assert articles.conversation(db, site.id, "busy", limit=2).truncated


def test_article_list_counts_and_sorts(client, app, site, db):
    ids = _arrange(db, site.id)
    add_user(app, "camille")
    login(client, "camille")
    html = client.get("/articles").text
    assert "<h1>Articles</h1>" in html
    assert "<script>alert" not in html and "&lt;script&gt;alert(" in html  # the title is escaped
    rows = re.findall(r'<tr class="article-row" data-thread="(\w+)">(.*?)</tr>', html, re.S)
    assert [thread for thread, _ in rows] == ["busy", "quiet"]  # most recent activity first
    busy = rows[0][1]
    nums = re.findall(r'<td class="num">(?:<a [^>]*>)?([^<]*)', busy)
    assert nums[:6] == ["3", "0", "0", "2", "0", "60 %"] or nums[:6] == ["3", "0", "0", "2", "0", "60\u00a0%"], nums
    assert 'href="https://j.example/tempete" target="_blank" rel="noopener noreferrer nofollow"' in busy
    by_flagged = client.get("/articles?sort=comments").text
    assert by_flagged.index('data-thread="busy"') < by_flagged.index('data-thread="quiet"')
    assert client.get("/articles?sort=nope").status_code == 400
    assert client.get(f"/articles?site={site.id}").status_code == 200
    assert client.get("/articles?page=abc").status_code == 400
    assert ids


def test_article_queue_filters_by_thread_and_cards_name_the_article(client, app, site, db):
    ids = _arrange(db, site.id)
    add_user(app, "camille")
    login(client, "camille")
    article = db.scalar(select(Article).where(Article.thread_id == "busy"))
    response = client.get(f"/articles/{article.id}")
    assert response.status_code == 302 and "thread=busy" in response.location
    html = client.get(response.location).text
    shown = {int(i) for i in re.findall(r'<article class="card" id="c-(\d+)"', html)}
    assert shown == {ids["reply"], ids["other"], ids["deeper"]}  # flagged ones of this article only
    assert 'data-count="flagged">3<' in html and 'data-count="all">5<' in html
    assert "&lt;script&gt;alert(&#39;titre&#39;)&lt;/script&gt; Tempête" in html  # heading and cards: the title
    assert f'href="/articles/{article.id}/conversation?focus={ids["reply"]}#c-{ids["reply"]}"' in html
    everything = client.get("/queue?tab=flagged").text
    assert len(re.findall(r'<article class="card"', everything)) == 4
    # the filter survives the filter form and the next-page links
    assert '<input type="hidden" name="thread" value="busy">' in html
    assert client.get("/articles/999999").status_code == 404
    detail = client.get(f"/comments/{ids['reply']}").text  # the comment's own page names the article too
    assert f'class="thread article-link" href="/articles/{article.id}"' in detail
    assert "&lt;script&gt;alert(&#39;titre&#39;)&lt;/script&gt; Tempête</a>" in detail


def test_conversation_page_and_the_card_link(client, app, site, db):
    ids = _arrange(db, site.id)
    add_user(app, "camille")
    login(client, "camille")
    response = client.get(f"/comments/{ids['deeper']}/conversation")
    assert response.status_code == 302
    html = client.get(response.location).text
    order = [(int(i), int(d)) for i, d in re.findall(r'id="c-(\d+)" data-id="\d+" data-depth="(\d+)"', html)]
    assert order == [(ids["root"], 0), (ids["reply"], 1), (ids["deeper"], 2), (ids["other"], 0), (ids["orphan"], 0)]
    assert "jamais-recu" in html and "Conversation" in html
    no_thread = add_comment(db, site.id, "Hors fil", score=0.7)
    db.commit()
    assert client.get(f"/comments/{no_thread.id}/conversation").status_code == 404


def test_threads_received_before_the_upgrade_become_articles(tmp_path):
    from sqlalchemy import create_engine, text

    from core.storage.migrate import upgrade
    url = f"sqlite:///{tmp_path / 'old.db'}"
    upgrade(url, "0006")
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO sites (id, slug, name, policy, reject_reasons, signing_secrets, created_at) "
                          "VALUES (1, 's', 's', '{}', '[]', '[]', CURRENT_TIMESTAMP)"))
        for i, (thread, url_, received) in enumerate((
                ("t1", "https://j.example/t1", "2026-11-01 10:00:00"), ("t1", None, "2026-11-03 10:00:00"),
                ("t2", "javascript:alert(1)", "2026-11-02 10:00:00"), (None, None, "2026-11-02 11:00:00")), 1):
            conn.execute(text("INSERT INTO comments (id, site_id, text, thread_id, thread_url, source, status, "
                              "received_at, updated_at) VALUES (:i, 1, 'x', :t, :u, 'api', 'approved', :r, :r)"),
                         {"i": i, "t": thread, "u": url_, "r": received})
    upgrade(url)
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT thread_id, title, url, first_seen_at, last_seen_at FROM articles "
                                 "ORDER BY thread_id")).all()
        counts = conn.execute(text("SELECT report_count FROM comments")).scalars().all()
        threshold = conn.execute(text("SELECT report_threshold FROM sites")).scalar()
    engine.dispose()
    assert [(r[0], r[1], r[2], str(r[3])[:10], str(r[4])[:10]) for r in rows] == [
        ("t1", None, "https://j.example/t1", "2026-11-01", "2026-11-03"),
        ("t2", None, None, "2026-11-02", "2026-11-02")]
    assert counts == [0, 0, 0, 0] and threshold == 3


def test_a_batch_in_one_thread_makes_one_article(client, site, db):
    batch = [{"text": f"Commentaire {i}", "external_id": f"b{i}", "thread_id": "live",
              "thread_title": "Direct : la tempête" if i < 3 else "Direct : la tempête, suite"} for i in range(6)]
    response = client.post("/api/v1/comments", json={"comments": batch}, headers=site.headers)
    assert response.status_code == 202
    assert [(a.thread_id, a.title) for a in db.scalars(select(Article))] == [("live", "Direct : la tempête, suite")]
