"""Dashboard page times at 100,000 comments.

Inserts N comments (default 100,000) with their model results and automatic decisions into a fresh database
(a temporary SQLite file, or VIGIE_BENCH_DATABASE_URL for PostgreSQL), logs a moderator in and times the pages a
moderator uses: the queue's first page and pages deep into it by cursor, each sort, each filter, the tab counts,
the audit log and the statistics. Prints median and p95 per page; asserts nothing.

    python bench/bench_dashboard.py [--comments 100000] [--runs 15]
"""
from __future__ import annotations

import argparse
import os
import random
import re
import statistics
import tempfile
import time
from datetime import datetime, timedelta, timezone

from sqlalchemy import func, insert, select

from service.accounts import create_user
from service.app import create_app
from core.settings import Settings
from core.keys import create_site
from core.storage.migrate import upgrade
from core.storage.models import AuditEntry, Comment, ModelResult
from core.vocabulary import LABELS

WORDS = ("article réforme gouvernement ministre retraites élection journal football climat école prix énergie "
         "abruti nul honte bravo merci d'accord pas vrai mensonge incroyable").split()


def populate(app, n: int, seed: int = 7) -> dict:
    rng = random.Random(seed)
    db = app.extensions["vigie"].db
    with db.session() as s:
        sites = [create_site(s, f"site-{i}", f"Site {i}")[0].id for i in range(3)]
        create_user(s, "bench", "bench-password", "moderator")
    now = datetime.now(timezone.utc)
    started = time.perf_counter()
    chunk = 5000
    with db.engine.begin() as conn:
        for base in range(0, n, chunk):
            comments, results, audits = [], [], []
            for i in range(base, min(n, base + chunk)):
                tox = rng.betavariate(0.6, 3.0)
                status = "flagged" if tox >= 0.5 else "approved"
                if status == "flagged" and rng.random() < 0.3:
                    status = rng.choice(("approved", "rejected"))
                received = now - timedelta(minutes=(n - i) * 0.5)
                author = rng.randint(1, 5000)
                comments.append({"id": i + 1, "site_id": sites[i % 3], "external_id": f"c{i}",
                                 "text": " ".join(rng.choice(WORDS) for _ in range(rng.randint(5, 40))),
                                 "author_id": f"user{author}", "author_name": f"Lecteur {author}",
                                 "thread_id": f"story-{i // 200}", "source": "api", "status": status,
                                 "decided_by": "model", "score": round(tox, 4), "received_at": received,
                                 "decided_at": received, "updated_at": received})
                scores = {label: round(tox * rng.uniform(0.2, 1.0), 4) for label in LABELS}
                scores["toxicity"] = round(tox, 4)
                results.append({"comment_id": i + 1, "scores": scores, "model_name": "vigie-fr-toxicity",
                                "model_version": "bench", "latency_ms": 10.0, "spans": [], "created_at": received})
                audits.append({"site_id": sites[i % 3], "comment_id": i + 1, "actor": "model", "actor_name": "",
                               "action": "flagged" if tox >= 0.5 else "approved", "status_from": "pending",
                               "status_to": "flagged" if tox >= 0.5 else "approved", "reasons": [],
                               "created_at": received})
            conn.execute(insert(Comment), comments)
            conn.execute(insert(ModelResult), results)
            conn.execute(insert(AuditEntry), audits)
    if db.engine.dialect.name == "postgresql":
        with db.engine.begin() as conn:
            conn.exec_driver_sql("SELECT setval('comments_id_seq', (SELECT max(id) FROM comments))")
            conn.exec_driver_sql("ANALYZE")
    else:
        with db.engine.begin() as conn:
            conn.exec_driver_sql("ANALYZE")
    print(f"inserted {n} comments (+ results and audit entries) in {time.perf_counter() - started:.1f} s")
    return {"sites": sites}


def timed(client, path: str, runs: int) -> tuple[float, float, str]:
    times = []
    response = None
    for _ in range(runs):
        t = time.perf_counter()
        response = client.get(path)
        times.append((time.perf_counter() - t) * 1000)
        assert response.status_code == 200, (path, response.status_code)
    times.sort()
    return statistics.median(times), times[max(0, int(len(times) * 0.95) - 1)], response.headers.get("X-Next-Cursor", "")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--comments", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()
    tmp = tempfile.mkdtemp(prefix="vigie-bench-")
    url = os.environ.get("VIGIE_BENCH_DATABASE_URL") or f"sqlite:///{tmp}/bench.db"
    upgrade(url)
    app = create_app(Settings(data_dir=tmp, database_url=url, secret_key="bench"))
    info = populate(app, args.comments)
    client = app.test_client()
    token = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/login").text).group(1)
    client.post("/login", data={"username": "bench", "password": "bench-password", "csrf_token": token})

    # A cursor deep into the flagged queue (after walking 40 pages).
    cursor = ""
    for _ in range(40):
        cursor = client.get(f"/queue/cards?tab=flagged&sort=score&cursor={cursor}").headers["X-Next-Cursor"]
    cursor_time = ""
    for _ in range(40):
        cursor_time = client.get(f"/queue/cards?tab=all&sort=time&cursor={cursor_time}").headers["X-Next-Cursor"]
    today = datetime.now(timezone.utc).date()
    with app.extensions["vigie"].db.session() as session:  # the live queue's cursors: the newest ids
        event = session.scalar(select(func.max(AuditEntry.id))) or 0
        newest = session.scalar(select(func.max(Comment.id))) or 0
    pages = [
        ("queue: flagged, by score, page 1 (with tab counts)", "/queue?tab=flagged&sort=score"),
        ("queue: flagged, by score, page 41 (cursor)", f"/queue/cards?tab=flagged&sort=score&cursor={cursor}"),
        ("queue: all, newest, page 1", "/queue?tab=all&sort=time"),
        ("queue: all, newest, page 41 (cursor)", f"/queue/cards?tab=all&sort=time&cursor={cursor_time}"),
        ("queue: one site", f"/queue?tab=flagged&site={info['sites'][1]}"),
        ("queue: one author", "/queue?tab=all&author=user42"),
        ("queue: label insult >= 0.6", "/queue?tab=flagged&label=insult&min=0.6"),
        ("queue: last 7 days", f"/queue?tab=flagged&since={today - timedelta(days=7)}&until={today}"),
        ("queue: full-text search 'mensonge'", "/queue?tab=all&q=mensonge"),
        ("live poll: flagged, nothing new", f"/queue/live?tab=flagged&since_event={event}&since_comment={newest}"),
        ("live poll: flagged, 200 changes behind",
         f"/queue/live?tab=flagged&since_event={event - 200}&since_comment={newest - 200}"),
        ("live poll: all, 200 changes behind",
         f"/queue/live?tab=all&sort=time&since_event={event - 200}&since_comment={newest - 200}"),
        ("comment panel (author history + audit)", "/comments/50000/panel"),
        ("audit log, page 1", "/audit"),
        ("audit log, moderator only", "/audit?actor=moderator"),
        ("statistics, 30 days", "/stats?days=30"),
        ("statistics, 365 days", "/stats?days=365"),
    ]
    print(f"\n{args.comments} comments, {app.extensions['vigie'].db.engine.dialect.name}, {args.runs} runs per page")
    print(f"{'page':<52} {'median ms':>10} {'p95 ms':>10}")
    for name, path in pages:
        median, p95, _ = timed(client, path, args.runs)
        print(f"{name:<52} {median:>10.1f} {p95:>10.1f}")


if __name__ == "__main__":
    main()
