"""Per-site policy: scores and word lists -> approved / flagged / rejected, with the reasons recorded.

A policy is a JSON object stored on the site (``Site.policy``)::

    {
      "thresholds": {"toxicity": null, "severe_toxicity": 0.5, ...},  # flag at or above; null = the model's own
      "reject_thresholds": {},            # optional: reject at or above (e.g. {"severe_toxicity": 0.9})
      "words": {"banned": [], "suspect": [], "allowed": []},
      "banned_action": "rejected"         # or "flagged"
    }

Reasons are the dicts of ``core.vocabulary`` (``score_reason``, ``word_reason``).
Allowed words cancel banned/suspect hits on the same span ("never flagged for that word").
"""
from __future__ import annotations

import copy
import json
import threading
from dataclasses import dataclass, field
from typing import Any

from core.vocabulary import LABELS, Actor, Status, score_reason, word_reason
from core.wordlists import WordList, words

__all__ = ["LABELS", "DEFAULT_POLICY", "CompiledPolicy", "Decision", "decide", "compiled", "default_policy", "merged"]

DEFAULT_POLICY: dict[str, Any] = {
    "thresholds": {"toxicity": None, "severe_toxicity": 0.5, "obscene": 0.8, "threat": 0.6, "insult": 0.8,
                   "identity_attack": 0.6},
    "reject_thresholds": {},
    "words": {"banned": [], "suspect": [], "allowed": []},
    "banned_action": "rejected",
}


def default_policy() -> dict[str, Any]:
    return copy.deepcopy(DEFAULT_POLICY)


def merged(policy: dict[str, Any] | None) -> dict[str, Any]:
    """The site's policy over the defaults (missing keys take the default)."""
    out = default_policy()
    for key, value in (policy or {}).items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key].update(value)
        else:
            out[key] = value
    return out


@dataclass
class Decision:
    status: str  # approved, flagged, rejected
    actor: str  # model or rule
    reasons: list[dict[str, Any]] = field(default_factory=list)


class CompiledPolicy:
    def __init__(self, policy: dict[str, Any] | None, model_threshold: float | None = None):
        p = merged(policy)
        self.thresholds = {k: (model_threshold if v is None else v) for k, v in p["thresholds"].items()}
        self.thresholds = {k: (0.5 if v is None else float(v)) for k, v in self.thresholds.items()}
        self.reject_thresholds = {k: float(v) for k, v in (p.get("reject_thresholds") or {}).items() if v is not None}
        w = p.get("words") or {}
        self.banned = WordList(w.get("banned") or [])
        self.suspect = WordList(w.get("suspect") or [])
        self.allowed = WordList(w.get("allowed") or [])
        self.banned_action = p.get("banned_action", "rejected")

    def word_hits(self, text: str) -> list[dict[str, Any]]:
        if not (self.banned or self.suspect):
            return []
        tokens = words(text)
        allowed = {(h.start, h.end) for h in self.allowed.find(text, tokens)}
        out = []
        for name, wl in (("banned", self.banned), ("suspect", self.suspect)):
            for h in wl.find(text, tokens):
                if any(a[0] <= h.start and h.end <= a[1] for a in allowed):
                    continue
                out.append(word_reason(name, h.term, h.start, h.end, h.text))
        return out

    def decide(self, scores: dict[str, float], text: str) -> Decision:
        hits = self.word_hits(text)
        banned = [h for h in hits if h["list"] == "banned"]
        reject = [score_reason(k, scores[k], t)
                  for k, t in self.reject_thresholds.items() if k in scores and scores[k] >= t]
        flag = [score_reason(k, scores[k], t) for k, t in self.thresholds.items() if k in scores and scores[k] >= t]
        if banned and self.banned_action == Status.rejected.value:
            return Decision(Status.rejected.value, Actor.rule.value, banned + reject + flag)
        if reject:
            return Decision(Status.rejected.value, Actor.model.value, reject + hits)
        if hits:
            return Decision(Status.flagged.value, Actor.rule.value, hits + flag)
        if flag:
            return Decision(Status.flagged.value, Actor.model.value, flag)
        return Decision(Status.approved.value, Actor.model.value, [])


def decide(scores: dict[str, float], text: str, policy: dict[str, Any] | None,
           model_threshold: float | None = None) -> Decision:
    return CompiledPolicy(policy, model_threshold).decide(scores, text)


_compiled: dict[tuple[int, str, float | None], CompiledPolicy] = {}
_compiled_lock = threading.Lock()


def compiled(site_id: int, policy: dict[str, Any] | None, model_threshold: float | None) -> CompiledPolicy:
    """The site's compiled policy, cached per site and per policy content (a changed policy compiles anew)."""
    key = (site_id, json.dumps(policy or {}, sort_keys=True, default=str), model_threshold)
    found = _compiled.get(key)
    if found is None:
        found = CompiledPolicy(policy, model_threshold)
        with _compiled_lock:
            if len(_compiled) > 1000:
                _compiled.clear()
            _compiled[key] = found
    return found
