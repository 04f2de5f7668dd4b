"""What the author rule costs the decision path: ``core.decisions.apply_scores`` (policy, author standing lookup,
decision, audit entry, outbox) per comment, with no standing at all and with many restricted authors, on a
temporary SQLite file (or ``--database-url``). Prints figures, asserts nothing.

    python bench/bench_authors.py [--comments 2000] [--standings 20000] [--database-url URL]
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import create_engine, delete, select  # noqa: E402
from sqlalchemy.orm import Session  # noqa: E402

from core import authors  # noqa: E402
from core.decisions import apply_scores  # noqa: E402
from core.storage.migrate import upgrade  # noqa: E402
from core.storage.models import AuditEntry, AuthorStanding, Comment, ModelResult, Site  # noqa: E402

SCORES = {"toxicity": 0.02, "severe_toxicity": 0.0, "obscene": 0.01, "threat": 0.0, "insult": 0.01,
          "identity_attack": 0.0}


def run(engine, n: int, label: str, batch: int = 32) -> tuple[float, float]:
    """Decide ``n`` pending comments the way the drain job does: batches of ``batch``, one transaction each."""
    with Session(engine) as session:
        site_id = session.scalar(select(Site.id))
        session.add_all(Comment(site_id=site_id, text="Merci pour cet article.", author_id=f"a{i % 5000}",
                                source="api") for i in range(n))
        session.commit()
        ids = list(session.scalars(select(Comment.id).order_by(Comment.id)))
    decide_s = lookup_s = 0.0
    statuses: dict[str, int] = {}
    for start in range(0, n, batch):
        with Session(engine) as session:
            site = session.scalar(select(Site))
            comments = list(session.scalars(select(Comment).where(Comment.id.in_(ids[start:start + batch]))))
            began = time.perf_counter()
            for comment in comments:
                authors.restrict(session, comment, authors.Decision("approved", "model", []))
            lookup_s += time.perf_counter() - began
            began = time.perf_counter()
            for comment in comments:
                decision = apply_scores(session, site, comment, SCORES, "bench", "1", None, 1.0, None)
                statuses[decision.status] = statuses.get(decision.status, 0) + 1
            session.commit()
            decide_s += time.perf_counter() - began
    with Session(engine) as session:
        for table in (AuditEntry, ModelResult, Comment):
            session.execute(delete(table))
        session.commit()
    per, lookup = decide_s / n * 1e6, lookup_s / n * 1e6
    print(f"{label:<40} apply_scores + commit {per:7.1f} µs/comment   standing lookup alone {lookup:6.1f} µs   "
          f"statuses {statuses}")
    return per, lookup


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--comments", type=int, default=2000)
    parser.add_argument("--standings", type=int, default=20000)
    parser.add_argument("--database-url")
    args = parser.parse_args()
    url = args.database_url or f"sqlite:///{tempfile.mkdtemp(prefix='vigie-bench-')}/vigie.db"
    upgrade(url)
    engine = create_engine(url)
    with Session(engine) as session:
        session.add(Site(slug="bench", name="Bench", policy={}, reject_reasons=[], signing_secrets=[]))
        session.commit()
    base, _ = run(engine, args.comments, "no author restricted")
    with Session(engine) as session:
        site_id = session.scalar(select(Site.id))
        session.add_all(AuthorStanding(site_id=site_id, author_id=f"a{i}", banned=False, premoderated=i % 2 == 0,
                                       warnings=0) for i in range(args.standings))
        session.commit()
    restricted, lookup = run(engine, args.comments, f"{args.standings} standings, half pre-moderated")
    print(f"the standing lookup is {lookup / restricted * 100:.1f} % of deciding a comment "
          f"(apply_scores and its share of the commit); a model forward pass per comment is milliseconds")

if __name__ == "__main__":
    main()
