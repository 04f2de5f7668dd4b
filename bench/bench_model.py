"""Model-only throughput of the default scorer: comments/s at batch 1 and batch 32, fp32 and int8.

    python bench/bench_model.py [--threads 2] [--n 512] [--model vigie-fr-toxicity]

Corpus: the first N French comments of data/dev.csv (fixed; median token count printed).
Batch 32 = ``predict`` called with 32 comments at a time; "one call" = all N comments in a single
``predict`` call (what a worker does with a queue backlog: length-sorted batches of 32).
Prints figures, asserts nothing. Peak RSS is the process's maximum resident set size. Each rate is
wall-clock, followed in brackets by the rate implied by the process's CPU time on ``--threads`` idle cores
(useful on a shared machine, where the wall clock also counts other processes' work).
"""
from __future__ import annotations

import argparse
import csv
import os
import resource
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def corpus(n: int) -> list[str]:
    with open(ROOT / "data" / "dev.csv", newline="", encoding="utf-8") as f:
        return [r["text"] for r in csv.DictReader(f)][:n]


def timed(fn, *a):
    """(wall seconds, process CPU seconds) of one call."""
    t, c = time.perf_counter(), time.process_time()
    fn(*a)
    return time.perf_counter() - t, time.process_time() - c


def run(scorer, texts, label, threads):
    """Wall-clock rates, and in brackets the rate the CPU time spent implies on `threads` idle cores
    (n / (cpu_seconds / threads)): on a shared machine the wall clock counts other people's work too."""
    scorer.predict(texts[:32])  # warm-up
    n1 = min(64, len(texts))

    def total(pairs):
        pairs = list(pairs)
        return sum(p[0] for p in pairs), sum(p[1] for p in pairs)

    w1, c1 = total(timed(scorer.predict, [t]) for t in texts[:n1])
    w32, c32 = total(timed(scorer.predict, texts[i: i + 32]) for i in range(0, len(texts), 32))
    wall, cpu = timed(scorer.predict, texts)
    n = len(texts)
    print(f"{label:6s} batch 1: {n1 / w1:6.1f}/s [{n1 * threads / c1:6.1f}]   "
          f"batch 32: {n / w32:6.1f}/s [{n * threads / c32:6.1f}]   "
          f"one call of {n}: {n / wall:6.1f}/s [{n * threads / cpu:6.1f}]   "
          f"peak RSS {rss_mb():.0f} MB   load avg {os.getloadavg()[0]:.1f}", flush=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=int(os.environ.get("VIGIE_THREADS", "2")))
    ap.add_argument("--n", type=int, default=512)
    ap.add_argument("--model", default=None)
    ap.add_argument("--only", choices=["fp32", "int8"], default=None)
    args = ap.parse_args()
    import torch

    from workers.model import load

    texts = corpus(args.n)
    print(f"torch {torch.__version__}, {args.threads} threads, {len(texts)} comments from data/dev.csv", flush=True)
    for q in ("fp32", "int8"):
        if args.only and q != args.only:
            continue
        t = time.perf_counter()
        s = load(args.model, quantize=None if q == "fp32" else "int8", threads=args.threads)
        if q == "fp32" and hasattr(s, "tokenizer") and hasattr(s.tokenizer, "encode_batch"):
            lens = [len(e.ids) for e in s.tokenizer.encode_batch([s.prefix + x for x in texts])]
            print(f"tokens per comment (with prefix and specials): median {statistics.median(lens):.0f}, "
                  f"mean {statistics.mean(lens):.1f}, max {max(lens)}", flush=True)
        print(f"{q}: loaded {s.name} {s.version} in {time.perf_counter() - t:.1f}s", flush=True)
        run(s, texts, q, args.threads)
        del s


if __name__ == "__main__":
    main()
