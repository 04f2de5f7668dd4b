"""Site settings as an admin edits them: parsing the form into a policy, describing what changed (for the audit
log), and the seed lexicons offered as word-list suggestions."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from flask_babel import gettext

from core import netguard
from core.policy import LABELS, merged
from core.reports import DEFAULT_THRESHOLD as DEFAULT_REPORT_THRESHOLD, MAX_THRESHOLD as MAX_REPORT_THRESHOLD
from core.wordlists import normalize_term
from service.dashboard.highlight import safe_url
from service.dashboard.i18n import DEFAULT_TIMEZONE, LABEL_NAMES, name_of, valid_timezone

MAX_TERMS = 20_000
MAX_TERM_CHARS = 100
MAX_REASONS = 30


@dataclass
class ParsedSettings:
    name: str = ""
    policy: dict[str, Any] = field(default_factory=dict)
    reject_reasons: list[str] = field(default_factory=list)
    callback_url: str | None = None
    timezone: str = DEFAULT_TIMEZONE
    report_threshold: int = DEFAULT_REPORT_THRESHOLD
    errors: list[str] = field(default_factory=list)


def _threshold(form, key: str, label: str, errors: list[str]) -> float | None:
    raw = (form.get(key) or "").strip().replace(",", ".")
    if not raw:
        return None
    try:
        value = float(raw)
    except ValueError:
        errors.append(gettext("%(field)s: “%(value)s” is not a number", field=label, value=raw[:20]))
        return None
    if not 0.0 <= value <= 1.0:
        errors.append(gettext("%(field)s: must be between 0 and 1", field=label))
        return None
    return round(value, 4)


def _lines(text: str, what: str, errors: list[str], limit: int) -> list[str]:
    out, seen = [], set()
    for line in (text or "").splitlines():
        term = line.strip()
        if not term or term in seen:
            continue
        if len(term) > MAX_TERM_CHARS:
            errors.append(gettext("%(field)s: “%(term)s…” is longer than %(n)s characters", field=what, term=term[:30],
                                  n=MAX_TERM_CHARS))
            continue
        seen.add(term)
        out.append(term)
    if len(out) > limit:
        errors.append(gettext("%(field)s: at most %(n)s entries", field=what, n=limit))
    return out


def parse_form(form, current_policy: dict[str, Any] | None) -> ParsedSettings:
    errors: list[str] = []
    policy = merged(current_policy)
    policy["thresholds"] = {label: _threshold(form, f"threshold_{label}", gettext("Flag threshold (%(label)s)", label=name_of(LABEL_NAMES, label)), errors)
                            for label in LABELS}
    policy["reject_thresholds"] = {}
    for label in LABELS:
        value = _threshold(form, f"reject_{label}",
                           gettext("Reject threshold (%(label)s)", label=name_of(LABEL_NAMES, label)), errors)
        if value is not None:
            policy["reject_thresholds"][label] = value
    action = form.get("banned_action", "rejected")
    if action not in ("rejected", "flagged"):
        errors.append(gettext("Banned words: action must be “reject” or “flag”"))
    policy["banned_action"] = action
    list_titles = {"banned": gettext("Banned words"), "suspect": gettext("Suspect words"),
                   "allowed": gettext("Allowed words")}
    policy["words"] = {name: _lines(form.get(f"words_{name}", ""), list_titles[name], errors, MAX_TERMS)
                       for name in ("banned", "suspect", "allowed")}
    reasons = _lines(form.get("reject_reasons", ""), gettext("Reject reasons"), errors, MAX_REASONS)
    url = (form.get("callback_url") or "").strip()
    if url and (len(url) > 2000 or safe_url(url) is None):
        errors.append(gettext("Callback URL: must be an http:// or https:// URL"))
    name = (form.get("name") or "").strip()
    if not name or len(name) > 200:
        errors.append(gettext("Name: required, at most 200 characters"))
    tz = (form.get("timezone") or "").strip() or DEFAULT_TIMEZONE
    if not valid_timezone(tz):
        errors.append(gettext("Time zone: “%(value)s” is not a time zone name such as Europe/Paris", value=tz[:64]))
    report_threshold = _report_threshold(form, errors)
    return ParsedSettings(name=name, policy=policy, reject_reasons=reasons, callback_url=url or None, timezone=tz,
                          report_threshold=report_threshold, errors=errors)


def _report_threshold(form, errors: list[str]) -> int:
    raw = (form.get("report_threshold") or "").strip()
    if not raw:
        return DEFAULT_REPORT_THRESHOLD
    if not raw.isascii() or not raw.isdigit() or not 1 <= int(raw) <= MAX_REPORT_THRESHOLD:
        errors.append(gettext("Reports before flagging: a whole number between 1 and %(max)s",
                              max=MAX_REPORT_THRESHOLD))
        return DEFAULT_REPORT_THRESHOLD
    return int(raw)


def callback_problem(url: str, settings) -> str | None:
    """Why a callback URL may not be used (core.netguard: internal addresses, credentials in the URL), or None."""
    try:
        netguard.check_url(url, netguard.AllowList.from_settings(settings))
    except netguard.UnsafeURL as exc:
        return str(exc)
    return None


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
    for key in ("name", "callback_url", "timezone", "report_threshold"):
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
