"""Integrations benchmark: synchronous scoring latency of the Perspective-compatible API (Coral's call) and of the
Coral external moderation endpoint, over real HTTP against ``vigie up`` (gunicorn web, one model worker, SQLite,
the embedded Redis) on a temporary data dir. Prints figures; asserts nothing (targets: docs/architecture.md —
p99 < 150 ms at 20 requests/s; Coral's external phase waits 200 ms by default).

    nice -n 5 python bench/bench_integrations.py [--rate 20] [--seconds 30] [--long-every 2] [--quantize none|int8]

Load is open-loop: requests start on a fixed schedule (``--rate`` per second) whatever the previous ones are doing,
from a thread pool, as independent Coral servers would send them. Every ``--long-every`` seconds one of them is a
20 KB comment (Perspective's limit; 0: none): the figures of the ordinary calls (the target) and of the long ones
are printed apart. The long comments are different each time (Coral would answer a repeat as a replay).

The machine is measured in the same run, before and after the load (these machines are shared and differ from one
session to the next): its fp32 matmul rate (GFLOP/s, the worker's torch threads) and plain ``transformers``
(``BertModel`` on the same encoder weights, one comment per forward pass: what a sync call costs at the least).
"""
from __future__ import annotations

import argparse
import csv
import itertools
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
               VIGIE_QUANTIZE=quantize, VIGIE_TORCH_THREADS=str(threads),
               VIGIE_API_RATE_LIMIT="off")  # one key at a fixed rate: measured, not limited
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


def long_texts(texts: list[str], count: int, size: int = 20_000) -> list[str]:
    """``count`` different French comments of ``size`` characters (UTF-8 bytes: Perspective's 20 KB limit)."""
    out = []
    for k in range(count):
        parts, total = [], 0
        for text in texts[k % len(texts):] + texts:
            parts.append(text)
            total += len(text.encode()) + 1
            if total >= size:
                break
        out.append(" ".join(parts).encode()[:size].decode(errors="ignore"))
    return out


def machine(threads: int) -> str:
    """The machine as this run finds it: fp32 matmul GFLOP/s and plain transformers' single-comment forward passes
    per second on the same encoder (``BertModel``, mean pooling left out: the encoder is the cost)."""
    import torch
    from transformers import BertModel, PreTrainedTokenizerFast
    from transformers.utils import logging as hf_logging

    from workers.model.base import build_base

    if threads:
        torch.set_num_threads(threads)
    a, b = torch.randn(1024, 1024), torch.randn(1024, 1024)
    torch.mm(a, b)
    runs, started = 0, time.perf_counter()
    while time.perf_counter() - started < 1.0:
        torch.mm(a, b)
        runs += 1
    gflops = runs * 2 * 1024 ** 3 / (time.perf_counter() - started) / 1e9
    base = build_base(os.environ.get("VIGIE_MODEL_CACHE") or Path.home() / ".cache" / "vigie" / "models")
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    model = BertModel.from_pretrained(str(base), add_pooling_layer=False).eval()
    tokenizer = PreTrainedTokenizerFast(tokenizer_file=str(base / "tokenizer.json"))
    texts = ["query: " + t for t in corpus(40)]
    with torch.inference_mode():
        model(**tokenizer(texts[:1], return_tensors="pt"))
        started = time.perf_counter()
        for text in texts:
            model(**tokenizer([text], return_tensors="pt", truncation=True, max_length=128))
        rate = len(texts) / (time.perf_counter() - started)
    return (f"machine: fp32 matmul {gflops:6.1f} GFLOP/s, plain transformers {rate:5.1f} comments/s at batch 1 "
            f"({1000 / rate:5.1f} ms each), load average {os.getloadavg()[0]:.1f}")


def summary(name: str, latencies: list[float], statuses: dict, seconds: float) -> None:
    values = sorted(latencies)
    pick = lambda q: values[min(len(values) - 1, int(q * len(values)))] if values else float("nan")  # noqa: E731
    print(f"{name:<34} p50 {pick(0.5):6.1f} ms  p90 {pick(0.9):6.1f} ms  p99 {pick(0.99):6.1f} ms  "
          f"max {values[-1] if values else float('nan'):6.1f} ms  {len(values) / seconds:5.1f} req/s  "
          f"statuses {dict(sorted(statuses.items(), key=str))}", flush=True)


def open_loop(send, texts: list[str], rate: float, seconds: float, long: list[str] | None = None,
              long_every: float = 0) -> tuple[list[float], dict, list[float], dict]:
    """Ordinary calls' (latencies, statuses), then the long calls' (every ``long_every`` seconds one of them)."""
    results: dict[bool, tuple[list[float], dict]] = {False: ([], {}), True: ([], {})}
    lock = threading.Lock()

    def one(text: str, is_long: bool) -> None:
        started = time.perf_counter()
        try:
            status = send(text)
        except requests.RequestException as exc:
            status = type(exc).__name__
        elapsed = (time.perf_counter() - started) * 1000
        with lock:
            latencies, statuses = results[is_long]
            latencies.append(elapsed)
            statuses[status] = statuses.get(status, 0) + 1

    total = int(rate * seconds)
    every = max(1, round(long_every * rate)) if long and long_every else 0
    begin = time.perf_counter()
    with ThreadPoolExecutor(max_workers=32) as pool:
        for i in range(total):
            delay = begin + i / rate - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            if every and i % every == every // 2:
                pool.submit(one, long[(i // every) % len(long)], True)
            else:
                pool.submit(one, texts[i % len(texts)], False)
    return (*results[False], *results[True])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rate", type=float, default=20.0)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--quantize", choices=["none", "int8"], default="none")
    parser.add_argument("--threads", type=int, default=0, help="VIGIE_TORCH_THREADS of the worker (0: torch's)")
    parser.add_argument("--long-every", type=float, default=2.0, help="one 20 KB comment every N seconds (0: none)")
    args = parser.parse_args()
    texts = corpus()
    long = long_texts(texts, max(1, int(args.seconds / args.long_every) + 1) * 2) if args.long_every else []
    print(machine(args.threads), flush=True)
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

        authors = itertools.count(1)

        def coral(text: str):  # a distinct author per call: identical requests would be answered as replays
            body = json.dumps({"action": "NEW", "comment": {"body": text, "parentID": None},
                               "author": {"id": f"u{next(authors)}", "role": "COMMENTER"},
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
            mix = f" + 20 KB every {args.long_every:g} s" if long else ""
            latencies, statuses, long_lat, long_st = open_loop(perspective, texts, args.rate, args.seconds,
                                                               long[::2], args.long_every)
            summary(f"perspective analyze @ {args.rate:g}/s{mix}", latencies, statuses, args.seconds)
            if long:
                summary("  the 20 KB calls", long_lat, long_st, args.seconds)
            latencies, statuses, long_lat, long_st = open_loop(coral, texts, args.rate, args.seconds, long[1::2],
                                                               args.long_every)
            summary(f"coral moderation @ {args.rate:g}/s{mix}", latencies, statuses, args.seconds)
            if long:
                summary("  the 20 KB calls", long_lat, long_st, args.seconds)
            print(f"coral answers within 200 ms (Coral's default phase timeout): "
                  f"{sum(x < 200 for x in latencies) / max(1, len(latencies)):.1%}; "
                  f"decisions (200): {statuses.get(200, 0)}, no opinion (204): {statuses.get(204, 0)}")
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
    print(machine(args.threads), flush=True)


if __name__ == "__main__":
    main()
