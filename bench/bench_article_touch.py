"""What keeping articles costs at ingest: the article bookkeeping of one comment (core.articles.note, what ingest
runs; core.articles.touch, the ORM version) against an empty transaction, 2,000 calls over 20 threads in their own
sessions on a temporary SQLite file (or VIGIE_BENCH_DATABASE_URL). Prints microseconds per call (best of 3);
asserts nothing.

    python bench/bench_article_touch.py [--calls 2000]
"""
from __future__ import annotations

import argparse
import os
import tempfile
import time

from sqlalchemy import create_engine, text
from sqlalchemy.orm import Session

from core import articles
from core.storage.migrate import upgrade
from core.storage.models import Site


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calls", type=int, default=2000)
    args = parser.parse_args()
    url = os.environ.get("VIGIE_BENCH_DATABASE_URL") or f"sqlite:///{tempfile.mkdtemp()}/bench.db"
    upgrade(url)
    engine = create_engine(url)
    with Session(engine) as s:
        site = Site(slug=f"bench-{time.time_ns()}", name="bench", policy={}, reject_reasons=[], signing_secrets=[])
        s.add(site)
        s.commit()
        site_id = site.id

    def bench(fn) -> float:
        best = float("inf")
        for _ in range(3):
            started = time.perf_counter()
            for i in range(args.calls):
                with Session(engine) as s:
                    fn(s, site_id, f"t{i % 20}", "Titre", "https://journal.example/a")
                    s.commit()
            best = min(best, (time.perf_counter() - started) / args.calls * 1e6)
        return best

    print(f"{engine.dialect.name}, {args.calls} calls, best of 3")
    print(f"{'empty transaction':<40} {bench(lambda s, *a: None):>8.0f} us/call")
    select_one = bench(lambda s, *a: s.execute(text("SELECT 1")))
    print(f"{'one SELECT 1 (a transaction that reads)':<40} {select_one:>8.0f} us/call")
    print(f"{'articles.note (ingest: read, rare write)':<40} {bench(articles.note):>8.0f} us/call")
    print(f"{'articles.touch (ORM)':<40} {bench(articles.touch):>8.0f} us/call")


if __name__ == "__main__":
    main()
