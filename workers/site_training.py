"""Training a site's own model (issue 13): ``vigie train --site SLUG`` and the dashboard's button (rq job
``train_job`` on ``vigie-train``, progress in Redis under ``core.queues.TRAIN_STATUS_PREFIX``).

1. The site's labelled decisions (``core.labels.site_labels``), oldest first; the newest ``holdout`` share is held
   back (the future is what matters) and never trained on.
2. A sample of the base data (French training rows of ``data/``, by text hash) so the head does not forget.
3. The shared encoder's pooled embedding of every text (the worker's loaded model: one forward pass each).
4. A head trained from the model's own (``workers.model.sitehead``), its toxicity threshold chosen on the
   training decisions.
5. Figures on the held-back decisions for the default model, the site's current model and the candidate; the
   candidate is stored (``site_models``, status ``candidate``) for an admin to promote or not.
"""
from __future__ import annotations

import hashlib
import logging
import math
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np

from core import queues, sitemodels
from core.labels import site_labels
from core.services import Services
from core.storage.models import AuditEntry, Site, SiteModel
from core.vocabulary import LABELS
from workers import runtime

log = logging.getLogger(__name__)
DATA_DIR = Path(__file__).resolve().parents[1] / "data"
MIN_TRAIN = 40  # decisions needed to train (with MIN_CLASS of each class in both parts)
MIN_CLASS = 5
HOLDOUT = 0.25
BASE_ROWS = 800


class NotEnoughLabels(ValueError):
    pass


def base_sample(data_dir: Path | None, rows: int) -> tuple[list[str], np.ndarray]:
    """``rows`` French training rows of the base data (stable choice by text hash; dev rows never)."""
    from workers.model import data as D

    folder = Path(data_dir) if data_dir else DATA_DIR
    if rows <= 0 or not folder.is_dir():
        return [], np.zeros((0, len(LABELS)), dtype=np.float32)
    examples = [e for e in D.load_examples(folder, multilingual=False) if e.split == "train"]
    examples.sort(key=lambda e: hashlib.sha256(("site-base:" + e.text).encode()).hexdigest())
    chosen = examples[:rows]
    return [e.text for e in chosen], D.labels_matrix(chosen)


def _figures(y: np.ndarray, s: np.ndarray, threshold: float) -> dict[str, Any]:
    from workers.model.metrics import binary_metrics

    m = binary_metrics(y, s, threshold)
    cm = m["confusion_matrix"]
    return {"roc_auc": m["roc_auc"], "f1": m["f1"], "precision": m["precision"], "recall": m["recall"],
            "threshold": threshold, "flag_rate": (cm["tp"] + cm["fp"]) / m["n"] if m["n"] else None, "n": m["n"],
            "positives": m["positives"]}


def train_site(svc: Services, site_id: int, requested_by: str = "", holdout: float = HOLDOUT,
               base_rows: int = BASE_ROWS, steps: int | None = None, data_dir: Path | None = None,
               min_examples: int = MIN_TRAIN, progress: Callable[[float, str], None] | None = None,
               scorer=None) -> SiteModel:
    """Train and store a candidate; returns it (detached, with its figures in ``metrics``)."""
    import torch

    from workers.model.sitehead import HeadConfig, SiteHead, best_f1_threshold, head_probs, train_head

    say = progress or (lambda fraction, message: None)
    started = time.perf_counter()
    scorer = scorer or runtime.get_scorer(svc.settings)
    if not getattr(scorer, "supports_heads", False):
        raise ValueError(f"model {scorer.name} has no pooled embedding: site models need a Vigie model")
    with svc.db.sessionmaker() as session:
        site = session.get(Site, site_id)
        if site is None:
            raise ValueError(f"no site {site_id}")
        slug, policy = site.slug, site.policy
        examples = site_labels(session, site_id)
        current = sitemodels.active(session, site_id)
        current_head = (SiteHead.from_bytes(current.weights, current.threshold, current.name, current.version)
                        if current is not None else None)
        current_version = current.version if current is not None else None
    n = len(examples)
    n_hold = max(MIN_CLASS * 2, int(math.ceil(n * holdout)))
    train, held = examples[: n - n_hold], examples[n - n_hold:]
    for part, name in ((train, "training"), (held, "held-back")):
        toxic = sum(e.toxic for e in part)
        if n < min_examples or toxic < MIN_CLASS or len(part) - toxic < MIN_CLASS:
            raise NotEnoughLabels(f"not enough decisions to train: {n} labelled (need {min_examples}), and the "
                                  f"{name} part needs {MIN_CLASS} rejected and {MIN_CLASS} approved "
                                  f"(has {toxic} and {len(part) - toxic})")
    say(0.02, "base data")
    base_texts, base_y = base_sample(data_dir, base_rows)
    site_texts = [e.text for e in train] + [e.text for e in held]
    texts = site_texts + base_texts
    X = np.zeros((len(texts), 0), dtype=np.float32)
    chunk = 64
    parts = []
    for i in range(0, len(texts), chunk):
        parts.append(scorer.embed(texts[i: i + chunk]))
        say(0.05 + 0.8 * min(1.0, (i + chunk) / len(texts)), "embeddings")
    X = np.concatenate(parts) if parts else X
    embed_seconds = time.perf_counter() - started
    site_y = np.array([[np.nan if v is None else v for v in e.label_values().values()] for e in train + held],
                      dtype=np.float32).reshape(len(site_texts), len(LABELS))
    n_train = len(train)
    X_train = np.concatenate([X[:n_train], X[len(site_texts):]])
    Y_train = np.concatenate([site_y[:n_train], base_y]) if len(base_texts) else site_y[:n_train]
    is_site = np.concatenate([np.ones(n_train, bool), np.zeros(len(base_texts), bool)])
    cfg = HeadConfig() if steps is None else HeadConfig(steps=steps)
    start = scorer.head_state()
    weight, bias = train_head(X_train, Y_train, is_site, start, cfg,
                              progress=lambda f: say(0.85 + 0.1 * f, "training"))
    y_train = site_y[:n_train, 0]
    threshold = best_f1_threshold(y_train, head_probs(X[:n_train], weight, bias)[:, 0])
    # figures on the held-back decisions
    X_held, y_held = X[n_train: len(site_texts)], site_y[n_train:, 0]
    default_probs = head_probs(X_held, start["weight"], start["bias"])[:, 0]
    default_tuned = best_f1_threshold(y_train, head_probs(X[:n_train], start["weight"], start["bias"])[:, 0])
    model_threshold = float(scorer.threshold or 0.5)
    site_threshold = (policy or {}).get("thresholds", {}).get("toxicity") if isinstance(policy, dict) else None
    figures: dict[str, Any] = {
        "default": _figures(y_held, default_probs, float(site_threshold or model_threshold)),
        "default_tuned": _figures(y_held, default_probs, default_tuned),
        "candidate": _figures(y_held, head_probs(X_held, weight, bias)[:, 0], threshold),
    }
    if current_head is not None:
        figures["current"] = _figures(y_held, head_probs(X_held, current_head.weight, current_head.bias)[:, 0],
                                      current_head.threshold)
        figures["current"]["version"] = current_version
    seconds = time.perf_counter() - started
    figures.update(trained_on=n_train, held_back=len(held), base_rows=len(base_texts),
                   train_seconds=round(seconds, 2), embed_seconds=round(embed_seconds, 2), threads=int(torch.get_num_threads()),
                   held_back_from=held[0].decided_at.isoformat(), default_version=scorer.version,
                   steps=cfg.steps)
    head = SiteHead(weight, bias, threshold)
    with svc.db.sessionmaker() as session:
        number = sitemodels.next_number(session, site_id)
        model = SiteModel(site_id=site_id, number=number, name=scorer.name, base_version=scorer.version,
                          version=sitemodels.site_version(scorer.version, slug, number), kind="head",
                          status=sitemodels.CANDIDATE, threshold=threshold, weights=head.to_bytes(),
                          metrics=figures, trained_by=requested_by or "")
        session.add(model)
        session.flush()
        session.add(AuditEntry(site_id=site_id, actor="admin" if requested_by else "system",
                               actor_name=requested_by or "vigie train", action="model_trained",
                               note=f"candidate {model.version}: held-back AUC "
                                    f"{_fmt(figures['candidate']['roc_auc'])} vs default "
                                    f"{_fmt(figures['default']['roc_auc'])} on {len(held)} decisions"))
        session.commit()
        session.refresh(model)
        session.expunge(model)
    say(1.0, "done")
    log.info("site %s: candidate %s trained in %.1f s", slug, model.version, seconds)
    return model


def _fmt(value) -> str:
    return "-" if value is None else f"{value:.3f}"


def train_job(svc: Services, site_id: int, requested_by: str = "") -> dict[str, Any]:
    """The dashboard's training button (queue ``vigie-train``): progress and outcome in the site's status key."""
    redis = svc.redis

    def progress(fraction: float, message: str) -> None:
        queues.set_training_status(redis, site_id, {"state": "running", "progress": round(fraction, 3),
                                                    "message": message, "requested_by": requested_by})

    progress(0.0, "starting")
    try:
        model = train_site(svc, site_id, requested_by, base_rows=svc.settings.site_train_base_rows,
                           steps=svc.settings.site_train_steps, progress=progress)
    except NotEnoughLabels as exc:
        queues.set_training_status(redis, site_id, {"state": "failed", "progress": 0.0, "message": str(exc),
                                                    "requested_by": requested_by})
        return {"state": "failed"}
    except Exception as exc:
        queues.set_training_status(redis, site_id, {"state": "failed", "progress": 0.0,
                                                    "message": f"{type(exc).__name__}: {exc}"[:300],
                                                    "requested_by": requested_by})
        raise
    queues.set_training_status(redis, site_id, {"state": "done", "progress": 1.0, "message": model.version,
                                                "candidate_id": model.id, "requested_by": requested_by})
    return {"state": "done", "candidate_id": model.id, "version": model.version}
