"""Site settings as an admin edits them: parsing the form into a policy, describing what changed (for the audit
log), and the seed lexicons offered as word-list suggestions."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from service.dashboard.highlight import safe_url
from core.policy import LABELS, merged
from core.wordlists import normalize_term

MAX_TERMS = 20_000
MAX_TERM_CHARS = 100
MAX_REASONS = 30


@dataclass
class ParsedSettings:
    name: str = ""
    policy: dict[str, Any] = field(default_factory=dict)
    reject_reasons: list[str] = field(default_factory=list)
    callback_url: str | None = None
    errors: list[str] = field(default_factory=list)


def _threshold(form, key: str, label: str, errors: list[str]) -> float | None:
    raw = (form.get(key) or "").strip().replace(",", ".")
    if not raw:
        return None
    try:
        value = float(raw)
    except ValueError:
        errors.append(f"{label}: “{raw[:20]}” is not a number")
        return None
    if not 0.0 <= value <= 1.0:
        errors.append(f"{label}: must be between 0 and 1")
        return None
    return round(value, 4)


def _lines(text: str, what: str, errors: list[str], limit: int) -> list[str]:
    out, seen = [], set()
    for line in (text or "").splitlines():
        term = line.strip()
        if not term or term in seen:
            continue
        if len(term) > MAX_TERM_CHARS:
            errors.append(f"{what}: “{term[:30]}…” is longer than {MAX_TERM_CHARS} characters")
            continue
        seen.add(term)
        out.append(term)
    if len(out) > limit:
        errors.append(f"{what}: at most {limit} entries")
    return out


def parse_form(form, current_policy: dict[str, Any] | None) -> ParsedSettings:
    errors: list[str] = []
    policy = merged(current_policy)
    policy["thresholds"] = {label: _threshold(form, f"threshold_{label}", f"Flag threshold ({label})", errors)
                            for label in LABELS}
    policy["reject_thresholds"] = {}
    for label in LABELS:
        value = _threshold(form, f"reject_{label}", f"Reject threshold ({label})", errors)
        if value is not None:
            policy["reject_thresholds"][label] = value
    action = form.get("banned_action", "rejected")
    if action not in ("rejected", "flagged"):
        errors.append("Banned words: action must be “rejected” or “flagged”")
    policy["banned_action"] = action
    policy["words"] = {name: _lines(form.get(f"words_{name}", ""), f"{name.capitalize()} words", errors, MAX_TERMS)
                       for name in ("banned", "suspect", "allowed")}
    reasons = _lines(form.get("reject_reasons", ""), "Reject reasons", errors, MAX_REASONS)
    url = (form.get("callback_url") or "").strip()
    if url and (len(url) > 2000 or safe_url(url) is None):
        errors.append("Callback URL: must be an http:// or https:// URL")
    name = (form.get("name") or "").strip()
    if not name or len(name) > 200:
        errors.append("Name: required, at most 200 characters")
    return ParsedSettings(name=name, policy=policy, reject_reasons=reasons, callback_url=url or None, errors=errors)


def describe_changes(old: dict[str, Any], new: dict[str, Any]) -> str:
    """A short, human description of what changed between two settings snapshots (for the audit note)."""
    notes = []
    old_p, new_p = merged(old.get("policy")), merged(new.get("policy"))
    for key in ("thresholds", "reject_thresholds"):
        for label in LABELS:
            a, b = old_p[key].get(label), new_p[key].get(label)
            if a != b:
                notes.append(f"{key}.{label}: {'model default' if a is None and key == 'thresholds' else a} → "
                             f"{'model default' if b is None and key == 'thresholds' else b}")
    for name in ("banned", "suspect", "allowed"):
        a, b = set(old_p["words"].get(name) or []), set(new_p["words"].get(name) or [])
        if a != b:
            added, removed = sorted(b - a), sorted(a - b)
            part = f"words.{name}:"
            if added:
                part += f" +{len(added)} ({', '.join(added[:5])}{'…' if len(added) > 5 else ''})"
            if removed:
                part += f" -{len(removed)} ({', '.join(removed[:5])}{'…' if len(removed) > 5 else ''})"
            notes.append(part)
    if old_p.get("banned_action") != new_p.get("banned_action"):
        notes.append(f"banned_action: {old_p.get('banned_action')} → {new_p.get('banned_action')}")
    for key in ("name", "callback_url"):
        if old.get(key) != new.get(key):
            notes.append(f"{key}: {old.get(key) or '—'} → {new.get(key) or '—'}")
    if old.get("reject_reasons") != new.get("reject_reasons"):
        notes.append(f"reject_reasons: {', '.join(new.get('reject_reasons') or []) or '—'}")
    return "; ".join(notes)


def lexicon_dir(configured: Path | None) -> Path:
    if configured:
        return Path(configured)
    return Path(__file__).resolve().parents[2] / "data" / "lexicons"


def _plainness(term: str) -> int:
    """How many characters of a term are not letters, spaces, hyphens or apostrophes (0 for a plain word)."""
    return sum(1 for c in term if not (c.isalpha() or c in " -'’"))


def lexicons(directory: Path) -> dict[str, list[str]]:
    """The seed lexicons (one term per line), deduplicated by their folded form: ``!mb3c!l3`` and ``imbécile``
    are one entry, written the plainest way (matching sees through the disguises anyway)."""
    out: dict[str, list[str]] = {}
    if not directory.is_dir():
        return out
    for path in sorted(directory.glob("*.txt")):
        best: dict[tuple[str, ...], str] = {}
        for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
            term = line.strip()
            if not term or term.startswith("#") or len(term) > MAX_TERM_CHARS:
                continue
            key = normalize_term(term)
            if key and (key not in best or _plainness(term) < _plainness(best[key])):
                best[key] = term
        out[path.stem] = list(best.values())
    return out
