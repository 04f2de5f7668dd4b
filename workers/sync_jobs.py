"""Synchronous scoring (queue ``vigie-sync``) for the Perspective-compatible API and the Coral integration, and the
sync lane that keeps it answering while the worker scores long texts.

See ``service.integrations.sync`` for the protocol (its keys are in ``core.queues``). ``serve`` answers every
waiting request: it pops requests (up to ``VIGIE_BATCH_SIZE`` at a time, its own and any that arrived meanwhile),
cuts their texts into the model's token windows and scores them in *slices*: each forward pass holds at most
``slice_tokens()`` padded tokens (about ``SLICE_MS`` of model time, measured as it goes), taken from the requests
with the fewest windows left, so short requests are answered in the next slice whatever else waits. Between two
slices it takes the requests that arrived, and gives up on a request whose deadline passed (its caller is gone) or
that cannot be finished before it at the measured speed (its caller gets ``too_long`` at once: Perspective answers
503, Coral "no opinion" and the comment goes through the normal queue, scored in full). A text's score is the
maximum over *all* its windows, never over part of them: a partial maximum could approve a comment whose insult
is in its last window.

``SyncLane`` is the worker's ``scorer.pace`` (``workers.model.scorer``): while a drain or an explanation scores,
between two forward passes it answers the sync requests waiting, and while sync traffic has been seen in the last
``SYNC_RECENT_S`` it keeps those forward passes to one slice, so a 20 KB comment in the queue never holds a
synchronous call for more than a slice. Without sync traffic, batches keep their full size (throughput).

Sites' own models (issue 13): a request carries its site's id; each time requests are taken, one lookup
(``workers.site_heads.heads_for``, cached heads) finds the active site model of their sites, and every window is
scored with its request's head (``scorer.score_windows(wins, heads=...)``: one encoder pass per forward pass
whatever the mix of sites). The answer carries that model's name, version and threshold
(``site_heads.model_of``, as the queued drain), which the web process stores and decides with.
"""
from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from core import metrics
from core.queues import SYNC_PENDING_LIST, SYNC_REQUEST_KEY, SYNC_RESULT_KEY, SYNC_RESULT_TTL_S
from core.queues import SYNC_TOO_LONG as TOO_LONG
from core.services import Services
from workers import runtime, site_heads
from workers.model.scorer import plan_batches

log = logging.getLogger(__name__)

SLICE_MS = 40  # model time of one forward pass while sync requests may be waiting
DEFAULT_SLICE_TOKENS = 512  # before the first measurement
MIN_SLICE_TOKENS = 128  # one full window of the default model: a slice never holds less
SYNC_RECENT_S = 30  # a worker that served a sync request this recently slices its other work too


class Speed:
    """This process's measured model speed (milliseconds per padded token, a moving average) and when it last
    served a sync request."""

    def __init__(self) -> None:
        self.ms_per_token: float | None = None
        self.last_sync = 0.0

    def record(self, tokens: int, seconds: float) -> None:
        if tokens <= 0 or seconds <= 0:
            return
        rate = seconds * 1000 / tokens
        self.ms_per_token = rate if self.ms_per_token is None else 0.7 * self.ms_per_token + 0.3 * rate

    def slice_tokens(self) -> int:
        if self.ms_per_token is None:
            return DEFAULT_SLICE_TOKENS
        return max(MIN_SLICE_TOKENS, int(SLICE_MS / self.ms_per_token))

    def seconds_for(self, tokens: int) -> float | None:
        return None if self.ms_per_token is None else tokens * self.ms_per_token / 1000

    def sync_recent(self) -> bool:
        return time.monotonic() - self.last_sync < SYNC_RECENT_S


speed = Speed()  # one model per worker process


class SyncLane:
    """The worker's ``scorer.pace``: other work is scored in slices while sync traffic is about, and the sync
    requests waiting are answered between two of them (one ``LLEN`` per forward pass)."""

    def __init__(self, svc: Services) -> None:
        self.svc = svc
        self.serving = False

    def max_tokens(self) -> int | None:
        return speed.slice_tokens() if speed.sync_recent() else None

    def between(self, tokens: int, seconds: float) -> None:
        speed.record(tokens, seconds)
        if self.serving:  # the sync requests' own forward passes
            return
        self.serving = True
        try:
            if self.svc.redis.llen(SYNC_PENDING_LIST):
                serve(self.svc)
        except Exception:  # the work in progress goes on; Redis errors surface in its own calls
            log.warning("could not answer the sync requests waiting", exc_info=True)
        finally:
            self.serving = False


@dataclass
class _Request:
    rid: str
    deadline: float
    texts: list[str]
    wins: list[list[int]]
    owner: np.ndarray  # text index of each window
    probs: np.ndarray  # windows x labels, filled as they are scored
    lengths: list[int]
    done: int = 0  # windows scored (always a prefix of ``wins``)
    failed: bool = False
    head: Any = None  # the site's own head (None: the shared model's)
    model_s: float = 0.0
    batch: int = 0

    def tokens_left(self) -> int:
        return sum(self.lengths[self.done:])


def score_pending(svc: Services, request_id: str | None = None, limit: int | None = None) -> dict[str, int]:
    """The rq job: answer the sync requests waiting (``request_id``, the caller's own, is among them or was answered
    already). Returns counts."""
    return serve(svc, limit)


def serve(svc: Services, limit: int | None = None) -> dict[str, int]:
    """Answer waiting sync requests until none is left (see the module's docstring). Returns counts."""
    settings, redis = svc.settings, svc.redis
    scorer = runtime.get_scorer(settings)
    batch = limit or settings.batch_size
    counts = {"answered": 0, "texts": 0, "too_long": 0, "expired": 0}
    if not hasattr(scorer, "score_windows"):  # a scorer without windows (any object with ``predict``)
        live = _with_heads(svc, scorer, _take(redis, batch, counts), counts)
        if live:
            _answer(redis, counts, list(zip([rid for rid, _, _, _ in live],
                                            _score(scorer, [(texts, head) for _, _, texts, head in live]))))
        return counts
    active: list[_Request] = []
    while True:
        if len(active) < batch:
            taken = _with_heads(svc, scorer, _take(redis, batch - len(active), counts), counts)
            for rid, deadline, texts, head in taken:
                request = _windows(scorer, rid, deadline, texts)
                if isinstance(request, dict):
                    _answer(redis, counts, [(rid, request)])
                else:
                    request.head = head
                    active.append(request)
        if not active:
            return counts
        speed.last_sync = time.monotonic()
        now = time.time()
        answers = []
        for request in list(active):
            needed = speed.seconds_for(request.tokens_left())
            if now > request.deadline:  # its caller has given up
                active.remove(request)
                counts["expired"] += 1
            elif (needed is not None and request.tokens_left() > speed.slice_tokens()
                  and now + needed > request.deadline):
                active.remove(request)
                counts[TOO_LONG] += 1
                answers.append((request.rid, {"error": TOO_LONG, "windows": len(request.wins),
                                              "scored": request.done}))
        if answers:
            _answer(redis, counts, answers)
        if active:
            _slice(scorer, active)
            finished = [r for r in active if r.done == len(r.wins)]
            if finished:
                active = [r for r in active if r.done < len(r.wins)]
                _answer(redis, counts, [(r.rid, _result(scorer, r)) for r in finished])


def _take(redis, n: int, counts: dict[str, int]) -> list[tuple[str, float, list[str], int | None]]:
    """Pop up to ``n`` waiting requests: (id, deadline, texts, site id) of those whose caller still waits."""
    waiting = redis.lpop(SYNC_PENDING_LIST, n) or []
    ids = [x.decode() if isinstance(x, bytes) else x for x in waiting]
    if not ids:
        return []
    pipe = redis.pipeline()
    for rid in ids:
        pipe.get(SYNC_REQUEST_KEY + rid)
        pipe.delete(SYNC_REQUEST_KEY + rid)
    raw = pipe.execute()[::2]
    now = time.time()
    live = []
    for rid, payload in zip(ids, raw):
        if payload is None:
            continue  # withdrawn by its caller
        request = json.loads(payload)
        deadline = float(request.get("deadline", now + 1))
        if deadline < now:
            counts["expired"] += 1
            continue
        if "sealed" in request:  # doNotStore: the texts crossed Redis encrypted for this process's key
            try:
                texts = runtime.worker_key().open(request["sealed"])
            except Exception as exc:
                log.warning("a sealed sync request could not be opened here (%s)", type(exc).__name__)
                _answer(redis, counts, [(rid, {"error": "Unsealable"})])
                continue
        else:
            texts = request["texts"]
        site_id = request.get("site_id")
        live.append((rid, deadline, list(texts), site_id if isinstance(site_id, int) else None))
    return live


def _with_heads(svc: Services, scorer, live, counts: dict[str, int]) -> list[tuple[str, float, list[str], Any]]:
    """The taken requests with their site's head in place of the site id: one lookup for all of them. If the
    lookup fails (database unreachable), requests from a site get an error at once (their caller falls back: 503,
    or Coral's queue) rather than the shared model's scores in the name of a site that may have its own."""
    site_ids = {site_id for _, _, _, site_id in live if site_id is not None}
    heads: dict[int, Any] = {}
    if site_ids and getattr(scorer, "supports_heads", False):
        try:
            with svc.db.sessionmaker() as session:
                heads = site_heads.heads_for(session, scorer, site_ids)
                session.rollback()
        except Exception as exc:
            log.warning("could not look up the sites' own models (%s)", type(exc).__name__, exc_info=True)
            failed = [(rid, {"error": "SiteModelUnavailable"}) for rid, _, _, site_id in live if site_id is not None]
            if failed:
                _answer(redis=svc.redis, counts=counts, answers=failed)
            live = [item for item in live if item[3] is None]
    return [(rid, deadline, texts, heads.get(site_id)) for rid, deadline, texts, site_id in live]


def _windows(scorer, rid: str, deadline: float, texts: list[str]) -> _Request | dict[str, Any]:
    try:
        wins, owner = scorer.windows(texts)
    except Exception as exc:
        log.exception("sync scoring failed")
        return {"error": type(exc).__name__}
    return _Request(rid, deadline, texts, wins, np.asarray(owner, dtype=np.int64),
                    np.zeros((len(wins), len(scorer.labels)), dtype=np.float32), [len(w) for w in wins])


def _slice(scorer, active: list[_Request]) -> None:
    """One slice: the next windows of the requests with the fewest tokens left, up to ``slice_tokens()``."""
    budget = speed.slice_tokens()
    active.sort(key=lambda r: (r.tokens_left(), r.deadline))
    chosen: list[tuple[_Request, int]] = []
    total = 0
    for request in active:
        k = request.done
        while k < len(request.wins) and (not chosen or total + request.lengths[k] <= budget):
            chosen.append((request, k))
            total += request.lengths[k]
            k += 1
        if k < len(request.wins):
            break
    for b in plan_batches([request.lengths[k] for request, k in chosen], getattr(scorer, "batch_size", 32)):
        part = [chosen[j] for j in b]
        started = time.perf_counter()
        try:
            wins = [request.wins[k] for request, k in part]
            if any(request.head is not None for request, _ in part):
                probs = scorer.score_windows(wins, heads=[request.head for request, _ in part])
            else:
                probs = scorer.score_windows(wins)
        except Exception:
            log.exception("sync scoring failed")
            for request, _ in part:
                request.failed = True
            continue
        elapsed = time.perf_counter() - started
        speed.record(len(part) * max(request.lengths[k] for request, k in part), elapsed)
        metrics.forward_pass("sync", len({id(request) for request, _ in part}), elapsed)
        for row, (request, k) in zip(probs, part):
            request.probs[k] = row
            request.model_s += elapsed
            request.batch = max(request.batch, len(part))
    for request, k in chosen:
        request.done = len(request.wins) if request.failed else max(request.done, k + 1)


def _result(scorer, request: _Request) -> dict[str, Any]:
    if request.failed:
        return {"error": "ScoringFailed"}
    out = np.full((len(request.texts), request.probs.shape[1]), -1.0, dtype=np.float32)
    np.maximum.at(out, request.owner, request.probs)
    labels = list(scorer.labels)
    return {"scores": [{lab: float(v) for lab, v in zip(labels, row)} for row in out],
            **_model(scorer, request.head), "model_ms": request.model_s * 1000, "batch": request.batch}


def _model(scorer, head=None) -> dict[str, Any]:
    """The model that scored an answer (the site's own or the shared one), as the drain records it."""
    name, version, threshold = site_heads.model_of(scorer, head)
    return {"model": name, "version": version, "threshold": threshold}


def _answer(redis, counts: dict[str, int], answers: list[tuple[str, dict[str, Any]]]) -> None:
    pipe = redis.pipeline()
    for rid, answer in answers:
        pipe.rpush(SYNC_RESULT_KEY + rid, json.dumps(answer))
        pipe.expire(SYNC_RESULT_KEY + rid, SYNC_RESULT_TTL_S)
        if "scores" in answer:
            counts["answered"] += 1
            counts["texts"] += len(answer["scores"])
    pipe.execute()


def _score(scorer, groups: list[tuple[list[str], Any]]) -> list[dict[str, Any]]:
    """All groups' texts (each with its site's head or None) in one ``predict`` call (scorers without windows)."""
    try:
        flat = [text for texts, _ in groups for text in texts]
        started = time.perf_counter()
        if any(head is not None for _, head in groups):
            scores = scorer.predict(flat, heads=[head for texts, head in groups for _ in texts])
        else:
            scores = scorer.predict(flat)
        model_ms = (time.perf_counter() - started) * 1000
        metrics.forward_pass("sync", len(flat), model_ms / 1000)
    except Exception as exc:  # the callers get an answer now instead of waiting out their budget
        log.exception("sync scoring failed")
        return [{"error": type(exc).__name__}] * len(groups)
    common = {"model_ms": model_ms, "batch": len(flat)}
    out, start = [], 0
    for texts, head in groups:
        chunk = scores[start:start + len(texts)]
        start += len(texts)
        out.append({"scores": [{k: float(v) for k, v in s.items()} for s in chunk], **_model(scorer, head),
                    **common})
    return out
