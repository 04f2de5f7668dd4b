"""Synchronous scoring job (queue ``vigie-sync``): the Perspective-compatible API and the Coral integration send
texts here and wait for the answer. The texts travel in the job (a Perspective call with ``doNotStore`` must leave
nothing in the database) and the caller deletes the job once it has read the result."""
from __future__ import annotations

import time
from typing import Any

from workers import runtime


def score_texts(texts: list[str], deadline: float | None = None) -> dict[str, Any] | None:
    """Scores for each text, with the model's name, version and shipped threshold. Returns None without scoring
    when the caller's deadline has passed (it has already answered without us)."""
    if deadline is not None and time.time() > deadline:
        return None
    from workers.jobs import services

    scorer = runtime.get_scorer(services().settings)
    started = time.perf_counter()
    scores = scorer.predict(list(texts))
    return {
        "scores": [{label: float(value) for label, value in item.items()} for item in scores],
        "model": str(getattr(scorer, "name", "")),
        "version": str(getattr(scorer, "version", "")),
        "threshold": getattr(scorer, "threshold", None),
        "latency_ms": (time.perf_counter() - started) * 1000,
    }
