"""The model against a site's moderators (issue 13): one computation shared by ``vigie eval --site`` and the
dashboard's Stats panel, so both always show the same figures; and the per-label threshold suggestions an admin
applies in one click. Pure Python over the labelled examples of ``core.labels`` (the scores stored when each
comment was scored): no model, no numpy.

Minimum: figures are shown only from ``MIN_DECISIONS`` (50) labelled decisions with at least ``MIN_PER_CLASS``
(10) of each class (rejected and approved). Below ten positives one more or one fewer rejection moves recall by
10 points or more, and the standard error of a ROC AUC is around 0.05-0.08 (Hanley & McNeil), larger than the
differences between thresholds the panel is meant to show. A category label (insult, threat...) gets its own AUC
and suggestion only with ``MIN_PER_CLASS`` examples of that category.
"""
from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from core import policy as site_policy
from core.labels import LabelledExample, site_labels
from core.storage.models import Site
from core.vocabulary import LABELS, Status

MIN_DECISIONS = 50
MIN_PER_CLASS = 10
GRID = [round(i / 100, 2) for i in range(5, 96)]  # 0.05 .. 0.95
FLAG_MAX_MISS_RATE = 0.10  # a suggested flag threshold lets through at most 10% of what moderators rejected
REJECT_MIN_PRECISION = 0.95  # a suggested reject threshold removes only what moderators rejected, 95% of the time


def roc_auc(y: list[int], s: list[float]) -> float | None:
    """Mann-Whitney ROC AUC (ties count half); None without both classes."""
    pos = sum(y)
    neg = len(y) - pos
    if not pos or not neg:
        return None
    order = sorted(range(len(s)), key=lambda i: s[i])
    rank_sum = 0.0
    i = 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and s[order[j + 1]] == s[order[i]]:
            j += 1
        mean_rank = (i + j) / 2 + 1
        rank_sum += mean_rank * sum(y[order[k]] for k in range(i, j + 1))
        i = j + 1
    return (rank_sum - pos * (pos + 1) / 2) / (pos * neg)


def confusion(y: list[int], pred: list[int]) -> dict[str, Any]:
    tp = sum(1 for a, b in zip(y, pred) if a and b)
    fp = sum(1 for a, b in zip(y, pred) if not a and b)
    fn = sum(1 for a, b in zip(y, pred) if a and not b)
    tn = len(y) - tp - fp - fn
    precision = tp / (tp + fp) if tp + fp else None
    recall = tp / (tp + fn) if tp + fn else None
    f1 = 2 * tp / (2 * tp + fp + fn) if tp else 0.0
    return {"tp": tp, "fp": fp, "fn": fn, "tn": tn, "precision": precision, "recall": recall, "f1": f1,
            "agreement": (tp + tn) / len(y) if y else None, "flag_rate": (tp + fp) / len(y) if y else None}


def at_threshold(y: list[int], s: list[float], t: float) -> dict[str, Any]:
    return {"threshold": t, **confusion(y, [int(v >= t) for v in s])}


def best_threshold(y: list[int], s: list[float], current: float | None = None) -> dict[str, Any]:
    """The grid threshold whose flags agree most with the moderators (ties: closest to ``current``, then lower)."""
    best = None
    for t in GRID:
        row = at_threshold(y, s, t)
        key = (row["agreement"], -abs(t - current) if current is not None else 0.0, -t)
        if best is None or key > best[0]:
            best = (key, row)
    return best[1]


def best_f1_threshold(y: list[int], s: list[float]) -> float:
    best_t, best_f = 0.5, -1.0
    for t in GRID:
        f = at_threshold(y, s, t)["f1"]
        if f > best_f:
            best_t, best_f = t, f
    return best_t


def _label_data(examples: list[LabelledExample], label: str) -> tuple[list[int], list[float]]:
    y, s = [], []
    for e in examples:
        value = e.label_values()[label]
        if value is None or label not in e.scores:
            continue
        y.append(int(value))
        s.append(e.scores[label])
    return y, s


def enough(y: list[int]) -> bool:
    return len(y) >= MIN_DECISIONS and MIN_PER_CLASS <= sum(y) <= len(y) - MIN_PER_CLASS


def evaluate_examples(examples: list[LabelledExample], policy: dict[str, Any] | None) -> dict[str, Any]:
    """Figures for these examples (those with stored scores): the policy replayed on each stored result (with the
    model threshold stored with it) against the moderators, AUC per label, the threshold that matches them best,
    and the threshold suggestions."""
    scored = [e for e in examples if e.scores]
    y = [e.toxic for e in scored]
    out: dict[str, Any] = {"decisions": len(examples), "scored": len(scored), "rejected": sum(y),
                           "approved": len(y) - sum(y), "min_decisions": MIN_DECISIONS,
                           "min_per_class": MIN_PER_CLASS, "enough": enough(y)}
    models = sorted({f"{e.model_name} {e.model_version}" for e in scored if e.model_name})
    out["models"] = models
    if not out["enough"]:
        return out
    flagged = []
    for e in scored:
        decision = site_policy.compiled(0, policy, e.threshold).decide(e.scores, e.text)
        flagged.append(int(decision.status != Status.approved.value))
    out["policy"] = confusion(y, flagged)
    labels: dict[str, Any] = {}
    current = site_policy.merged(policy)
    for label in LABELS:
        ly, ls = _label_data(scored, label)
        positives = sum(ly)
        row: dict[str, Any] = {"n": len(ly), "positives": positives, "roc_auc": None, "current_threshold": None,
                               "at_current": None, "best": None, "suggestion": None}
        if positives >= MIN_PER_CLASS and len(ly) - positives >= MIN_PER_CLASS:
            row["roc_auc"] = roc_auc(ly, ls)
            threshold_now = current["thresholds"].get(label)
            if threshold_now is None:
                stored = [e.threshold for e in scored if e.threshold is not None]
                threshold_now = stored[-1] if stored and label == "toxicity" else None
            row["current_threshold"] = threshold_now
            if threshold_now is not None:
                row["at_current"] = at_threshold(ly, ls, float(threshold_now))
            row["best"] = best_threshold(ly, ls, threshold_now)
            row["suggestion"] = suggest(ly, ls, len(scored), label, current)
        labels[label] = row
    out["labels"] = labels
    return out


def suggest(y: list[int], s: list[float], total: int, label: str, current: dict[str, Any]) -> dict[str, Any]:
    """A flag threshold (the highest that still flags at least 90% of what moderators rejected) and a reject
    threshold (the lowest whose automatic rejections moderators agreed with at least 95% of the time), each with the
    expected flag (or reject) rate over all decided comments and the rejected comments it misses."""
    positives = sum(y)
    flag = None
    for t in reversed(GRID):
        missed = sum(1 for a, v in zip(y, s) if a and v < t)
        if missed <= FLAG_MAX_MISS_RATE * positives:
            above = sum(1 for v in s if v >= t)
            flag = {"threshold": t, "flag_rate": above / total if total else None, "misses": missed,
                    "miss_rate": missed / positives if positives else None,
                    "current": current["thresholds"].get(label)}
            break
    reject = None
    for t in GRID:
        above = [a for a, v in zip(y, s) if v >= t]
        if len(above) >= MIN_PER_CLASS // 2 and sum(above) / len(above) >= REJECT_MIN_PRECISION:
            reject = {"threshold": t, "reject_rate": len(above) / total if total else None,
                      "wrong": len(above) - sum(above), "misses": positives - sum(above),
                      "current": (current.get("reject_thresholds") or {}).get(label)}
            break
    return {"flag": flag, "reject": reject}


def evaluate_site(session: Session, site: Site, since: datetime | None = None,
                  until: datetime | None = None) -> dict[str, Any]:
    """``vigie eval --site`` and the Stats panel: the site's current policy and stored scores against its
    moderators' decisions made in [since, until)."""
    examples = site_labels(session, site.id, since, until)
    out = evaluate_examples(examples, site.policy)
    out["site"] = site.slug
    out["since"] = since.isoformat() if since else None
    out["until"] = until.isoformat() if until else None
    return out


def apply_suggestion(policy: dict[str, Any] | None, label: str, kind: str, value: float) -> dict[str, Any]:
    """The policy with one suggested threshold applied (``kind``: flag or reject)."""
    if label not in LABELS or kind not in ("flag", "reject") or not 0.0 <= value <= 1.0:
        raise ValueError("unknown label, kind or value")
    new = site_policy.merged(policy)
    key = "thresholds" if kind == "flag" else "reject_thresholds"
    new[key] = dict(new.get(key) or {})
    new[key][label] = round(float(value), 4)
    return new


def format_report(figures: dict[str, Any]) -> str:
    """Plain-text report (the CLI); the dashboard renders the same dict."""
    lines = [f"site {figures.get('site')}: {figures['decisions']} labelled decisions "
             f"({figures['rejected']} rejected, {figures['approved']} approved, {figures['scored']} with scores)"]
    if figures.get("models"):
        lines.append("scored by: " + ", ".join(figures["models"]))
    if not figures["enough"]:
        lines.append(f"not enough decisions yet: figures need {figures['min_decisions']} with at least "
                     f"{figures['min_per_class']} rejected and {figures['min_per_class']} approved")
        return "\n".join(lines)
    p = figures["policy"]
    lines.append(f"current policy vs moderators: agreement {_pct(p['agreement'])}, precision {_pct(p['precision'])}, "
                 f"recall {_pct(p['recall'])}, flag rate {_pct(p['flag_rate'])}")
    lines.append("label            n   pos  ROC AUC  best thr  agreement  suggested flag (rate, misses)  reject")
    for label, row in figures["labels"].items():
        auc = "   -   " if row["roc_auc"] is None else f"{row['roc_auc']:.4f} "
        best = row.get("best")
        sug = row.get("suggestion") or {}
        flag, reject = sug.get("flag"), sug.get("reject")
        lines.append(
            f"{label:<15} {row['n']:>4} {row['positives']:>4}  {auc}  "
            + (f"{best['threshold']:.2f}      {_pct(best['agreement']):>6}    " if best else "  -          -       ")
            + (f"{flag['threshold']:.2f} ({_pct(flag['flag_rate'])}, {flag['misses']})" if flag else "-").ljust(31)
            + (f"{reject['threshold']:.2f}" if reject else "-"))
    return "\n".join(lines)


def _pct(value) -> str:
    return "-" if value is None else f"{100 * value:.1f}%"
