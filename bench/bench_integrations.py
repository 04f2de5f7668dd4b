"""Integrations benchmark: synchronous scoring latency of the Perspective-compatible API (Coral's call) and of the
Coral external moderation endpoint, over real HTTP against ``vigie up`` (gunicorn web, one model worker, SQLite,
the embedded Redis) on a temporary data dir. Prints figures; asserts nothing (targets: docs/architecture.md —
p99 < 150 ms at 20 requests/s; Coral gives the call 800 ms).

    python bench/bench_integrations.py [--rate 20] [--seconds 30] [--quantize none|int8] [--threads N]

Load is open-loop: requests start on a fixed schedule (``--rate`` per second) whatever the previous ones are doing,
from a thread pool, as independent Coral servers would send them.
"""
from __future__ import annotations

import argparse
import csv
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from core.signing import sign_coral  # noqa: E402


def corpus(limit: int = 500) -> list[str]:
    for name in ("toxifrench_forum_500.csv", "jigsaw_fr_mt.csv"):
        path = ROOT / "data" / name
        if path.exists():
            with path.open(newline="", encoding="utf-8") as fh:
                texts = [row["text"][:2000] for row in csv.DictReader(fh) if row.get("text", "").strip()]
            return texts[:limit]
    raise SystemExit("no French corpus in data/")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rss_mb(pid: int) -> float:
    """Resident memory of a process and its descendants (gunicorn master + workers), in MB."""
    total, todo = 0, [pid]
    while todo:
        current = todo.pop()
        try:
            with open(f"/proc/{current}/status") as fh:
                total += next(int(line.split()[1]) for line in fh if line.startswith("VmRSS"))
            with open(f"/proc/{current}/task/{current}/children") as fh:
                todo += [int(x) for x in fh.read().split()]
        except (OSError, StopIteration):
            pass
    return total / 1024


def start(data_dir: Path, port: int, quantize: str, threads: int) -> tuple[subprocess.Popen, dict]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("VIGIE_") or k == "VIGIE_MODEL_CACHE"}
    env.setdefault("VIGIE_MODEL_CACHE", str(Path.home() / ".cache" / "vigie" / "models"))  # as the tests
    env.update(VIGIE_DATA_DIR=str(data_dir), VIGIE_PORT=str(port), VIGIE_LOG_LEVEL="WARNING",
               VIGIE_QUANTIZE=quantize, VIGIE_TORCH_THREADS=str(threads))
    process = subprocess.Popen([sys.executable, "-m", "core.cli", "up", "--no-webhooks"], env=env, cwd=ROOT)
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"vigie up exited with {process.returncode}")
        try:
            if requests.get(f"http://127.0.0.1:{port}/readyz", timeout=2).status_code == 200:
                break
        except requests.RequestException:
            pass
        time.sleep(0.5)
    else:
        process.terminate()
        raise SystemExit("vigie up did not become ready in 300 s")
    created = subprocess.run([sys.executable, "-m", "core.cli", "create-site", "bench", "--json"], env=env,
                             cwd=ROOT, capture_output=True, text=True, check=True)
    return process, json.loads(created.stdout)


def summary(name: str, latencies: list[float], statuses: dict, seconds: float) -> None:
    values = sorted(latencies)
    pick = lambda q: values[min(len(values) - 1, int(q * len(values)))] if values else float("nan")  # noqa: E731
    print(f"{name:<34} p50 {pick(0.5):6.1f} ms  p90 {pick(0.9):6.1f} ms  p99 {pick(0.99):6.1f} ms  "
          f"max {values[-1] if values else float('nan'):6.1f} ms  {len(values) / seconds:5.1f} req/s  "
          f"statuses {dict(sorted(statuses.items()))}", flush=True)


def open_loop(send, texts: list[str], rate: float, seconds: float) -> tuple[list[float], dict]:
    latencies: list[float] = []
    statuses: dict = {}
    lock = threading.Lock()

    def one(text: str) -> None:
        started = time.perf_counter()
        try:
            status = send(text)
        except requests.RequestException as exc:
            status = type(exc).__name__
        elapsed = (time.perf_counter() - started) * 1000
        with lock:
            latencies.append(elapsed)
            statuses[status] = statuses.get(status, 0) + 1

    total = int(rate * seconds)
    begin = time.perf_counter()
    with ThreadPoolExecutor(max_workers=32) as pool:
        for i in range(total):
            delay = begin + i / rate - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            pool.submit(one, texts[i % len(texts)])
    return latencies, statuses


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rate", type=float, default=20.0)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--quantize", choices=["none", "int8"], default="none")
    parser.add_argument("--threads", type=int, default=0, help="VIGIE_TORCH_THREADS of the worker (0: torch's)")
    args = parser.parse_args()
    texts = corpus()
    with tempfile.TemporaryDirectory(prefix="vigie-bench-integrations-") as tmp:
        port = free_port()
        print(f"== vigie up (gunicorn web + 1 model worker, SQLite, embedded Redis, quantize={args.quantize}, "
              f"torch threads={args.threads or 'default'})", flush=True)
        process, site = start(Path(tmp), port, args.quantize, args.threads)
        base = f"http://127.0.0.1:{port}"
        local = threading.local()

        def session() -> requests.Session:
            if not hasattr(local, "session"):
                local.session = requests.Session()
            return local.session

        def perspective(text: str):  # exactly what Coral Talk sends
            body = {"comment": {"text": text}, "doNotStore": True, "requestedAttributes": {"TOXICITY": {}},
                    "languages": ["fr"]}
            return session().post(f"{base}/v1alpha1/comments:analyze", params={"key": site["api_key"]},
                                  json=body, timeout=5).status_code

        def coral(text: str):
            body = json.dumps({"action": "NEW", "comment": {"body": text, "parentID": None},
                               "author": {"id": "u1", "role": "COMMENTER"},
                               "story": {"id": "s1", "url": "https://journal.example/s1"}, "site": {"id": "x"},
                               "tenantID": "t", "tenantDomain": "journal.example"}).encode()
            headers = {"Content-Type": "application/json",
                       "X-Coral-Signature": sign_coral([site["signing_secret"]], body)}
            return session().post(f"{base}/integrations/coral/bench", data=body, headers=headers,
                                  timeout=5).status_code

        try:
            for text in texts[:20]:  # warm up connections, the worker and the model
                perspective(text)
            idle = []
            for text in texts[20:80]:
                started = time.perf_counter()
                perspective(text)
                idle.append((time.perf_counter() - started) * 1000)
                time.sleep(0.05)
            summary("perspective analyze, idle", idle, {}, len(idle) * 0.05 + sum(idle) / 1000)
            latencies, statuses = open_loop(perspective, texts, args.rate, args.seconds)
            summary(f"perspective analyze @ {args.rate:g}/s", latencies, statuses, args.seconds)
            latencies, statuses = open_loop(coral, texts, args.rate, args.seconds)
            summary(f"coral moderation @ {args.rate:g}/s", latencies, statuses, args.seconds)
            print(f"coral answers within 800 ms: {sum(x < 800 for x in latencies) / max(1, len(latencies)):.1%}")
            print(f"load average during the run (2 cores shared): {os.getloadavg()[0]:.1f}")
            web = subprocess.run(["pgrep", "-f", f"gunicorn.*{port}"], capture_output=True, text=True).stdout
            pids = [int(p) for p in web.split()]
            if pids:
                print(f"web (gunicorn) RSS: {max(rss_mb(p) for p in pids):.0f} MB (master + workers)")
        finally:
            process.terminate()
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                process.kill()


if __name__ == "__main__":
    main()
