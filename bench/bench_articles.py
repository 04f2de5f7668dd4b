"""Article pages and the "Signalés" queue at 100,000 comments.

Fills a fresh database like bench_dashboard.py (N comments, 200 per article, three sites), makes the articles (as
migration 0008 does for existing threads) and gives one comment in 50 some readers' reports, then times the article
list (each order), an article's queue, its conversation view and the "Signalés" queue. Prints median and p95 per
page; asserts nothing.

    python bench/bench_articles.py [--comments 100000] [--runs 15]
"""
from __future__ import annotations

import argparse
import os
import re
import tempfile

from sqlalchemy import text

from bench_dashboard import populate, timed
from core.settings import Settings
from core.storage.migrate import upgrade
from service.app import create_app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--comments", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()
    tmp = tempfile.mkdtemp(prefix="vigie-bench-")
    url = os.environ.get("VIGIE_BENCH_DATABASE_URL") or f"sqlite:///{tmp}/bench.db"
    upgrade(url)
    app = create_app(Settings(data_dir=tmp, database_url=url, secret_key="bench"))
    populate(app, args.comments)
    with app.extensions["vigie"].db.engine.begin() as conn:
        conn.execute(text("INSERT INTO articles (site_id, thread_id, title, first_seen_at, last_seen_at) "
                          "SELECT site_id, thread_id, 'Article ' || thread_id, MIN(received_at), MAX(received_at) "
                          "FROM comments WHERE thread_id IS NOT NULL GROUP BY site_id, thread_id"))
        conn.execute(text("UPDATE comments SET report_count = 1 + id % 4 WHERE id % 50 = 0"))
        conn.exec_driver_sql("ANALYZE")
    client = app.test_client()
    token = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/login").text).group(1)
    client.post("/login", data={"username": "bench", "password": "bench-password", "csrf_token": token})
    with app.extensions["vigie"].db.engine.connect() as conn:
        article_id, articles = conn.execute(text("SELECT max(id), count(*) FROM articles")).one()
        site_id, thread = conn.execute(text("SELECT site_id, thread_id FROM articles WHERE id = :i"),
                                       {"i": article_id}).one()
    cursor = ""
    for _ in range(20):
        cursor = client.get(f"/queue/cards?tab=reported&cursor={cursor}").headers["X-Next-Cursor"]
    pages = [
        ("articles: by activity, page 1", "/articles"),
        ("articles: by activity, page 10", "/articles?page=10"),
        ("articles: most to review (counts every thread)", "/articles?sort=flagged"),
        ("articles: most comments (counts every thread)", "/articles?sort=comments"),
        ("an article's queue (flagged, with counts)", f"/queue?tab=flagged&site={site_id}&thread={thread}"),
        ("an article's queue (all, newest)", f"/queue?tab=all&sort=time&site={site_id}&thread={thread}"),
        ("conversation (200 comments)", f"/articles/{article_id}/conversation"),
        ("Signalés, page 1 (with tab counts)", "/queue?tab=reported"),
        ("Signalés, page 21 (cursor)", f"/queue/cards?tab=reported&cursor={cursor}"),
    ]
    print(f"\n{args.comments} comments in {articles} articles, {app.extensions['vigie'].db.engine.dialect.name}, "
          f"{args.runs} runs per page")
    print(f"{'page':<52} {'median ms':>10} {'p95 ms':>10}")
    for name, path in pages:
        median, p95, _ = timed(client, path, args.runs)
        print(f"{name:<52} {median:>10.1f} {p95:>10.1f}")


if __name__ == "__main__":
    main()
