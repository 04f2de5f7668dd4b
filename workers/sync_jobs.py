"""Synchronous scoring job (queue ``vigie-sync``) for the Perspective-compatible API and the Coral integration.
See ``service.integrations.sync`` for the protocol (its keys are in ``core.queues``): the job pops up to
``VIGIE_BATCH_SIZE`` waiting requests (its own and any that arrived meanwhile), scores their texts in one forward
pass and pushes each answer to the key its caller waits on. Requests whose caller has given up (deadline passed,
key gone) are skipped."""
from __future__ import annotations

import json
import logging
import time
from typing import Any

from core import metrics
from core.queues import SYNC_PENDING_LIST, SYNC_REQUEST_KEY, SYNC_RESULT_KEY, SYNC_RESULT_TTL_S
from core.services import Services
from workers import runtime

log = logging.getLogger(__name__)


def score_pending(svc: Services, request_id: str | None = None, limit: int | None = None) -> dict[str, int]:
    """Answer up to ``limit`` waiting sync requests in one forward pass (``request_id``, the caller's own request,
    is among them or was answered by another job's batch). Returns counts."""
    settings, redis = svc.settings, svc.redis
    waiting = redis.lpop(SYNC_PENDING_LIST, limit or settings.batch_size) or []
    ids = [x.decode() if isinstance(x, bytes) else x for x in waiting]
    if not ids:
        return {"answered": 0}
    pipe = redis.pipeline()
    for rid in ids:
        pipe.get(SYNC_REQUEST_KEY + rid)
        pipe.delete(SYNC_REQUEST_KEY + rid)
    raw = pipe.execute()[::2]
    now = time.time()
    live: list[tuple[str, list[str]]] = []
    unopened: list[tuple[str, dict[str, Any]]] = []
    for rid, payload in zip(ids, raw):
        if payload is None:
            continue  # withdrawn by its caller
        request = json.loads(payload)
        if request.get("deadline", now + 1) < now:
            continue
        if "sealed" in request:  # doNotStore: the texts crossed Redis encrypted for this process's key
            try:
                texts = runtime.worker_key().open(request["sealed"])
            except Exception as exc:
                log.warning("a sealed sync request could not be opened here (%s)", type(exc).__name__)
                unopened.append((rid, {"error": "Unsealable"}))
                continue
        else:
            texts = request["texts"]
        live.append((rid, list(texts)))
    if not live and not unopened:
        return {"answered": 0}
    answers = _score(settings, [texts for _, texts in live]) if live else []
    pipe = redis.pipeline()
    for rid, answer in [*zip([rid for rid, _ in live], answers), *unopened]:
        pipe.rpush(SYNC_RESULT_KEY + rid, json.dumps(answer))
        pipe.expire(SYNC_RESULT_KEY + rid, SYNC_RESULT_TTL_S)
    pipe.execute()
    return {"answered": len(live), "texts": sum(len(t) for _, t in live)}


def _score(settings, groups: list[list[str]]) -> list[dict[str, Any]]:
    try:
        scorer = runtime.get_scorer(settings)
        flat = [text for texts in groups for text in texts]
        started = time.perf_counter()
        scores = scorer.predict(flat)
        model_ms = (time.perf_counter() - started) * 1000
        metrics.forward_pass("sync", len(flat), model_ms / 1000)
    except Exception as exc:  # the callers get an answer now instead of waiting out their budget
        log.exception("sync scoring failed")
        return [{"error": type(exc).__name__}] * len(groups)
    common = {"model": str(getattr(scorer, "name", "")), "version": str(getattr(scorer, "version", "")),
              "threshold": getattr(scorer, "threshold", None), "model_ms": model_ms, "batch": len(flat)}
    out, start = [], 0
    for texts in groups:
        chunk = scores[start:start + len(texts)]
        start += len(texts)
        out.append({"scores": [{k: float(v) for k, v in s.items()} for s in chunk], **common})
    return out
