"""Metrics used by training, ``vigie eval`` and the model card (no model code here)."""
from __future__ import annotations

import numpy as np


def binary_metrics(y_true, scores, threshold: float) -> dict:
    y = np.asarray(y_true, dtype=float)
    s = np.asarray(scores, dtype=float)
    keep = ~np.isnan(y)
    y, s = y[keep].astype(int), s[keep]
    pred = (s >= threshold).astype(int)
    tp = int(((pred == 1) & (y == 1)).sum())
    fp = int(((pred == 1) & (y == 0)).sum())
    fn = int(((pred == 0) & (y == 1)).sum())
    tn = int(((pred == 0) & (y == 0)).sum())
    prec = tp / (tp + fp) if tp + fp else 0.0
    rec = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * prec * rec / (prec + rec) if prec + rec else 0.0
    auc = None
    if 0 < y.sum() < len(y):
        from sklearn.metrics import roc_auc_score

        auc = float(roc_auc_score(y, s))
    return {
        "n": int(len(y)), "positives": int(y.sum()), "threshold": float(threshold),
        "roc_auc": auc, "precision": prec, "recall": rec, "f1": f1,
        "confusion_matrix": {"tn": tn, "fp": fp, "fn": fn, "tp": tp},
    }


def f1_curve(y_true, scores, grid=None):
    y = np.asarray(y_true, dtype=float)
    s = np.asarray(scores, dtype=float)
    keep = ~np.isnan(y)
    y, s = y[keep], s[keep]
    grid = np.round(np.arange(0.05, 0.951, 0.01), 2) if grid is None else grid
    out = []
    for t in grid:
        p = s >= t
        tp = float((p & (y == 1)).sum())
        fp = float((p & (y == 0)).sum())
        fn = float((~p & (y == 1)).sum())
        out.append(2 * tp / (2 * tp + fp + fn) if tp else 0.0)
    return grid, np.array(out)


def choose_threshold(y_forum, s_forum, y_all, s_all, forum_weight: float = 0.7) -> tuple[float, dict]:
    """Threshold maximising ``forum_weight * F1(forum dev) + (1 - forum_weight) * F1(all French dev)``
    over a 0.05..0.95 grid (step 0.01), smoothed over +-0.02 so that a single lucky point of the small
    forum dev set does not decide it. Dev data only."""
    grid, f_forum = f1_curve(y_forum, s_forum)
    _, f_all = f1_curve(y_all, s_all)
    obj = forum_weight * f_forum + (1 - forum_weight) * f_all
    smooth = np.convolve(np.pad(obj, 2, mode="edge"), np.ones(5) / 5, mode="valid")
    i = int(np.argmax(smooth))
    return float(grid[i]), {"objective": float(obj[i]), "smoothed": float(smooth[i]),
                            "f1_forum": float(f_forum[i]), "f1_all": float(f_all[i])}
