"""Costs of the operations features, printed (never asserted): sealing a doNotStore request (web side) and opening
it (worker side), per text length, against one and three live worker keys; and one /metrics scrape (multiprocess
files plus the scrape-time queue figures) on an app with N stored comments.

    .venv/bin/python bench/bench_ops.py [--comments 2000]
"""
from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from core.sealing import WorkerKey, seal


def _per_call(fn, repeat: int) -> float:
    started = time.perf_counter()
    for _ in range(repeat):
        fn()
    return (time.perf_counter() - started) / repeat * 1000


def bench_sealing() -> None:
    for workers in (1, 3):
        keys = [WorkerKey() for _ in range(workers)]
        public = {k.key_id: k.public for k in keys}
        for chars in (200, 2_000, 20_000):
            texts = ["é" * chars]
            sealed = seal(texts, public)
            seal_ms = _per_call(lambda: seal(texts, public), 300)
            open_ms = _per_call(lambda: keys[0].open(sealed), 300)
            print(f"sealing  workers={workers} chars={chars:>6}: seal {seal_ms:.3f} ms, open {open_ms:.3f} ms")


def bench_scrape(comments: int) -> None:
    from core.settings import Settings
    from core.storage.migrate import upgrade
    from core.storage.models import Comment
    from service.app import create_app
    from core.keys import create_site

    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp)
        settings = Settings(data_dir=data, database_url=f"sqlite:///{data / 'vigie.db'}", secret_key="bench",
                            api_rate_limit="off")
        upgrade(settings.resolved_database_url)
        app = create_app(settings)
        services = app.extensions["vigie"]
        with services.db.session() as session:
            site, _, _ = create_site(session, "bench", "bench")
            session.add_all([Comment(site_id=site.id, text="Un commentaire.", status="pending" if i % 10 == 0
                                     else "approved") for i in range(comments)])
        client = app.test_client()
        client.get("/metrics")
        ms = _per_call(lambda: client.get("/metrics"), 50)
        print(f"/metrics scrape with {comments} comments ({comments // 10} pending): {ms:.2f} ms")
        from core.connection import shutdown_embedded

        shutdown_embedded()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--comments", type=int, default=2000)
    args = parser.parse_args()
    bench_sealing()
    bench_scrape(args.comments)


if __name__ == "__main__":
    main()
