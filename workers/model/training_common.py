"""Training helpers shared by stage 1 (``train.py``) and stage 2 (``topfit.py``): seeds, the E5 input prefix,
tokenisation, length-bucketed batches and the training-time dev metrics. Kept apart from both so that neither stage
imports the other at module level (``train`` runs stage 2 when asked; ``topfit`` needs only these)."""
from __future__ import annotations

import random

import numpy as np
import torch

from . import data as D

PREFIX = "query: "


def set_seed(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    if torch.cuda.is_available():
        torch.cuda.manual_seed_all(seed)


def encode_texts(tokenizer, texts: list[str], max_len: int) -> list[list[int]]:
    """Token ids of ``"query: " + text`` with <s> and </s>, truncated to ``max_len`` (training)."""
    encs = tokenizer.encode_batch([PREFIX + t for t in texts])
    out = []
    for e in encs:
        ids = e.ids
        if len(ids) > max_len:
            ids = ids[: max_len - 1] + [ids[-1]]
        out.append(ids)
    return out


def make_batches(lengths, batch_size: int, rng: np.random.Generator | None) -> list[np.ndarray]:
    """Length-bucketed batches: shuffle, sort inside pools of 50 batches, shuffle the batches."""
    idx = np.arange(len(lengths))
    lengths = np.asarray(lengths)
    if rng is None:
        order = idx[np.argsort(lengths, kind="stable")]
        return [order[i: i + batch_size] for i in range(0, len(order), batch_size)]
    idx = rng.permutation(idx)
    pool = batch_size * 50
    batches = []
    for p in range(0, len(idx), pool):
        chunk = idx[p: p + pool]
        chunk = chunk[np.argsort(lengths[chunk], kind="stable")]
        batches += [chunk[i: i + batch_size] for i in range(0, len(chunk), batch_size)]
    perm = rng.permutation(len(batches))
    return [batches[i] for i in perm]


def quick_dev_metrics(probs: np.ndarray, y: np.ndarray, sources: list[str]) -> dict:
    """AUC / best-F1 on the French dev split (training-time figures, truncated inputs)."""
    from sklearn.metrics import roc_auc_score

    from .metrics import choose_threshold, f1_curve

    out = {}
    src = np.array(sources)
    for j, lab in enumerate(D.LABELS):
        keep = ~np.isnan(y[:, j])
        if keep.sum() and 0 < y[keep, j].sum() < keep.sum():
            out[f"auc_{lab}"] = round(float(roc_auc_score(y[keep, j], probs[keep, j])), 4)
    forum = src == D.FORUM_FILE
    if forum.any():
        if 0 < y[forum, 0].sum() < forum.sum():
            out["auc_forum"] = round(float(roc_auc_score(y[forum, 0], probs[forum, 0])), 4)
        t, info = choose_threshold(y[forum, 0], probs[forum, 0], y[:, 0], probs[:, 0])
        out["threshold"] = t
        out.update({k: round(v, 4) for k, v in info.items()})
        _, f = f1_curve(y[forum, 0], probs[forum, 0], [0.5])
        out["f1_forum@0.5"] = round(float(f[0]), 4)
    return out
