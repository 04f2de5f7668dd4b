"""Service benchmark: starts Vigie with its real parts (``vigie up``: gunicorn web, a model worker, SQLite, the
embedded Redis) on a temporary data dir and prints figures. Never asserts anything; targets are in
docs/architecture.md.

    python bench/bench_service.py [--seconds 20] [--idle-samples 40] [--skip-model]

Prints: model-only comments/s (batch 1 and 32), API ingest requests/s, end-to-end comments/s under sustained load
(POST -> stored decision, load from a second process), time to decision p50/p95/p99 idle and under load, and the
peak RSS of the web and worker processes.
"""
from __future__ import annotations

import argparse
import csv
import json
import multiprocessing as mp
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def corpus(limit: int = 2000) -> list[str]:
    """Fixed French comments: data/dev.csv (the model benchmark's corpus), else data/jigsaw_fr_mt.csv."""
    for path in (ROOT / "data" / "dev.csv", ROOT / "data" / "jigsaw_fr_mt.csv",
                 ROOT.parent / "shared" / "data" / "jigsaw_fr_mt.csv"):
        if path.exists():
            with path.open(newline="", encoding="utf-8") as fh:
                texts = [row["text"] for row in csv.DictReader(fh) if row.get("text", "").strip()]
            return texts[:limit]
    raise SystemExit("no corpus found in data/ (dev.csv or jigsaw_fr_mt.csv)")


def clean_corpus(limit: int = 200) -> list[str]:
    """Comments labelled non-toxic in data/dev.csv (decided without an explanation job)."""
    path = ROOT / "data" / "dev.csv"
    if not path.exists():
        return []
    with path.open(newline="", encoding="utf-8") as fh:
        return [row["text"] for row in csv.DictReader(fh) if row.get("toxicity") == "0"][:limit]


def percentiles(values: list[float]) -> str:
    if not values:
        return "n/a"
    values = sorted(values)
    pick = lambda q: values[min(len(values) - 1, int(q * len(values)))]  # noqa: E731
    return f"p50 {pick(0.50):7.1f} ms  p95 {pick(0.95):7.1f} ms  p99 {pick(0.99):7.1f} ms  (n={len(values)})"


# ------------------------------------------------------------------------------------------------ model only
def model_only(texts: list[str]) -> None:
    bench_model = ROOT / "bench" / "bench_model.py"
    if bench_model.exists():
        print("== model only (bench/bench_model.py)", flush=True)
        subprocess.run([sys.executable, str(bench_model), "--n", "256"], check=False)
        return
    from core.settings import Settings
    from workers import runtime

    scorer = runtime.load_scorer(Settings())
    scorer.predict(texts[:32])  # warm-up
    for batch in (1, 32):
        sample = texts[: (64 if batch == 1 else 512)]
        started = time.perf_counter()
        for i in range(0, len(sample), batch):
            scorer.predict(sample[i:i + batch])
        rate = len(sample) / (time.perf_counter() - started)
        print(f"model only, batch {batch:2d}: {rate:7.1f} comments/s")


# ----------------------------------------------------------------------------------------------- the service
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def descendants(pid: int) -> list[int]:
    out, todo = [], [pid]
    while todo:
        current = todo.pop()
        try:
            children = Path(f"/proc/{current}/task/{current}/children").read_text().split()
        except OSError:
            continue
        out += [int(c) for c in children]
        todo += [int(c) for c in children]
    return out


def peak_rss_mb(pid: int) -> tuple[str, float]:
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return "", 0.0
    hwm = next((line.split()[1] for line in status.splitlines() if line.startswith("VmHWM")), "0")
    return cmdline, int(hwm) / 1024


def start_service(data_dir: Path, port: int) -> tuple[subprocess.Popen, dict[str, str]]:
    # The operator's VIGIE_* settings apply (e.g. VIGIE_QUANTIZE=int8), except where the service keeps its state.
    env = {k: v for k, v in os.environ.items()
           if k not in ("VIGIE_DATA_DIR", "VIGIE_DATABASE_URL", "VIGIE_REDIS_URL", "VIGIE_PORT", "VIGIE_HOST")}
    env.update(VIGIE_DATA_DIR=str(data_dir), VIGIE_PORT=str(port), VIGIE_LOG_LEVEL="WARNING",
               VIGIE_API_RATE_LIMIT="off")  # one key at full speed: measured, not limited
    process = subprocess.Popen([sys.executable, "-m", "core.cli", "up", "--no-webhooks"], env=env, cwd=ROOT,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"vigie up exited with {process.returncode}")
        try:
            if requests.get(base + "/readyz", timeout=2).status_code == 200:
                break
        except requests.RequestException:  # not listening yet, or still starting
            pass
        time.sleep(0.5)
    else:
        raise SystemExit("vigie up did not become ready in 300 s")
    created = subprocess.run([sys.executable, "-m", "core.cli", "create-site", "bench", "--json"], env=env,
                             cwd=ROOT, check=True, capture_output=True, text=True)
    return process, {"Authorization": f"Bearer {json.loads(created.stdout)['api_key']}"}


def idle_latency(base: str, headers: dict, texts: list[str], samples: int) -> list[float]:
    """POST one comment, wait for its decision, repeat: time from the POST to the decision being readable."""
    session = requests.Session()
    out = []
    for text in texts[:samples]:
        started = time.perf_counter()
        url = session.post(base + "/api/v1/comments", json={"text": text}, headers=headers, timeout=10).json()["url"]
        while session.get(base + url, headers=headers, timeout=10).json()["status"] == "pending":
            time.sleep(0.002)
        out.append((time.perf_counter() - started) * 1000)
    return out


def _loader(base: str, headers: dict, texts: list[str], seconds: float, per_request: int, threads: int,
            rate: float | None, limit: int | None, results) -> None:
    """A second process posting comments from a few threads, as fast as the service accepts them or at ``rate``
    comments/s in total."""
    import threading

    counts = []

    def run(offset: int) -> None:
        session = requests.Session()
        sent, i = 0, offset
        begin = time.monotonic()
        end = begin + seconds
        while time.monotonic() < end and (limit is None or sent < limit // threads):
            if rate:
                due = begin + sent / (rate / threads)
                if due > time.monotonic():
                    time.sleep(max(0.0, due - time.monotonic()))
            chunk = [{"text": texts[(i + k) % len(texts)]} for k in range(per_request)]
            i += per_request * threads
            body = chunk[0] if per_request == 1 else {"comments": chunk}
            response = session.post(base + "/api/v1/comments", json=body, headers=headers, timeout=30)
            if response.status_code == 202:
                sent += per_request
        counts.append(sent)

    workers = [threading.Thread(target=run, args=(t * per_request,)) for t in range(threads)]
    started = time.monotonic()
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    results.put((sum(counts), time.monotonic() - started))


def load_from_second_process(base, headers, texts, seconds, per_request, threads, rate=None,
                             limit=None) -> tuple[int, float]:
    """Post from a second process for ``seconds`` (or until ``limit`` comments); (comments accepted, seconds)."""
    results = mp.Queue()
    process = mp.Process(target=_loader,
                         args=(base, headers, texts, seconds, per_request, threads, rate, limit, results))
    process.start()
    sent, elapsed = results.get()
    process.join()
    return sent, elapsed


def decided_since(db_url: str, since_id: int) -> tuple[int, int, list[float], float | None, float | None]:
    """(accepted, decided, time-to-decision ms list, first received, last decided) for comments after since_id."""
    from sqlalchemy import create_engine, text

    engine = create_engine(db_url)
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT received_at, decided_at FROM comments WHERE id > :i"), {"i": since_id}).all()
    engine.dispose()
    from datetime import datetime

    def ts(v):
        return datetime.fromisoformat(str(v)).timestamp() if v is not None else None

    received = [ts(r[0]) for r in rows]
    decided = [ts(r[1]) for r in rows]
    latencies = [(d - r) * 1000 for r, d in zip(received, decided) if d is not None]
    done = [d for d in decided if d is not None]
    return len(rows), len(done), latencies, min(received) if received else None, max(done) if done else None


def wait_idle(db_url: str, since_id: int = 0, timeout: float = 300) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        accepted, decided = decided_since(db_url, since_id)[:2]
        if decided >= accepted:
            return
        time.sleep(0.5)


def max_id(db_url: str) -> int:
    from sqlalchemy import create_engine, text

    engine = create_engine(db_url)
    with engine.connect() as conn:
        value = conn.execute(text("SELECT COALESCE(MAX(id), 0) FROM comments")).scalar()
    engine.dispose()
    return int(value)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=20, help="Duration of each load phase.")
    parser.add_argument("--idle-samples", type=int, default=40)
    parser.add_argument("--burst", type=int, default=1000, help="Most comments posted in the saturation phase.")
    parser.add_argument("--skip-model", action="store_true", help="Skip the model-only figures.")
    args = parser.parse_args()
    texts = corpus()
    print(f"corpus: {len(texts)} French comments, median {statistics.median(len(t) for t in texts):.0f} characters")
    if not args.skip_model:
        model_only(texts)

    with tempfile.TemporaryDirectory(prefix="vigie-bench-") as tmp:
        data_dir, port = Path(tmp) / "var", free_port()
        db_url = f"sqlite:///{(data_dir / 'vigie.db').resolve()}"
        base = f"http://127.0.0.1:{port}"
        print("== service: vigie up (gunicorn web + 1 model worker, SQLite, embedded Redis)", flush=True)
        process, headers = start_service(data_dir, port)
        try:
            idle_latency(base, headers, texts, 5)  # warm-up
            clean = clean_corpus()
            if clean:
                print(f"time to decision, idle, non-toxic: "
                      f"{percentiles(idle_latency(base, headers, clean, args.idle_samples))}")
            print(f"time to decision, idle, corpus: {percentiles(idle_latency(base, headers, texts, args.idle_samples))}")

            # Sustained load: enough to keep the worker busy; throughput = decisions / wall time.
            start_id = max_id(db_url)
            sent, elapsed = load_from_second_process(base, headers, texts, args.seconds, per_request=4, threads=2,
                                                     limit=args.burst)
            wait_idle(db_url, start_id, timeout=args.burst)
            accepted, decided, latencies, first, last = decided_since(db_url, start_id)
            rate = decided / (last - first) if first and last and last > first else 0.0
            print(f"end to end, saturated:         {rate:7.1f} comments/s decided "
                  f"({decided}/{sent} accepted in {elapsed:.1f} s, 2 threads x 4 comments/request)")
            print(f"time to decision, saturated:   {percentiles(latencies)}  (includes the backlog)")
            wait_idle(db_url)

            # Latency under a steady load at about half the measured capacity.
            steady = max(1.0, rate / 2)
            start_id = max_id(db_url)
            load_from_second_process(base, headers, texts, args.seconds, per_request=1, threads=2, rate=steady)
            wait_idle(db_url, start_id, timeout=args.burst)
            latencies = decided_since(db_url, start_id)[2]
            print(f"time to decision at {steady:5.1f}/s: {percentiles(latencies)}")

            # API ingest: single-comment requests from a second process (the worker keeps scoring meanwhile).
            sent, elapsed = load_from_second_process(base, headers, texts, min(args.seconds, 10), per_request=1,
                                                     threads=4, limit=5000)
            print(f"API ingest:                    {sent / elapsed:7.1f} requests/s (1 comment each, 4 threads)")
            sent, elapsed = load_from_second_process(base, headers, texts, min(args.seconds, 10), per_request=50,
                                                     threads=2, limit=20000)
            print(f"API ingest, batches of 50:     {sent / elapsed:7.1f} comments/s")

            for pid in descendants(process.pid):
                cmdline, rss = peak_rss_mb(pid)
                if "gunicorn" in cmdline or " worker" in cmdline:
                    role = "web (gunicorn)" if "gunicorn" in cmdline else "worker"
                    print(f"peak RSS {role:15s} pid {pid:6d}: {rss:7.1f} MB")
        finally:
            process.terminate()
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                process.kill()


if __name__ == "__main__":
    main()
