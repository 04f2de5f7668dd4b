"""Admin entries of the audit log (settings changes, keys, users) in the reader's language.

An admin action stores what changed as data in the entry's ``reasons`` (``{"kind": "setting", ...}`` per changed
setting, ``{"kind": "admin", "event": ...}`` for keys, sites and users), and the audit page words it in the
reader's language. The entry's ``note`` keeps a one-line English summary for exports and logs; entries written
before this stored only that note, and are shown as they were written."""
from __future__ import annotations

from typing import Any

from flask_babel import gettext

from core.policy import LABELS, merged
from service.dashboard.i18n import LABEL_NAMES, LIST_NAMES, ROLE_NAMES, STATUS_NAMES, decimal, name_of

SHOWN_TERMS = 5  # terms named per change (the count says how many)
KINDS = ("setting", "admin")


def settings_changes(old: dict[str, Any], new: dict[str, Any]) -> list[dict[str, Any]]:
    """What changed between two settings snapshots, one entry per change (the data behind describe_changes)."""
    changes: list[dict[str, Any]] = []
    old_p, new_p = merged(old.get("policy")), merged(new.get("policy"))
    for key, field in (("thresholds", "threshold"), ("reject_thresholds", "reject_threshold")):
        for label in LABELS:
            a, b = old_p[key].get(label), new_p[key].get(label)
            if a != b:
                changes.append({"kind": "setting", "field": field, "label": label, "from": a, "to": b})
    for name in ("banned", "suspect", "allowed"):
        a, b = set(old_p["words"].get(name) or []), set(new_p["words"].get(name) or [])
        if a != b:
            added, removed = sorted(b - a), sorted(a - b)
            changes.append({"kind": "setting", "field": "words", "list": name, "added": added[:SHOWN_TERMS],
                            "n_added": len(added), "removed": removed[:SHOWN_TERMS], "n_removed": len(removed)})
    if old_p.get("banned_action") != new_p.get("banned_action"):
        changes.append({"kind": "setting", "field": "banned_action", "from": old_p.get("banned_action"),
                        "to": new_p.get("banned_action")})
    for key in ("name", "callback_url", "timezone"):
        if old.get(key) != new.get(key):
            changes.append({"kind": "setting", "field": key, "from": old.get(key), "to": new.get(key)})
    if old.get("reject_reasons") != new.get("reject_reasons"):
        changes.append({"kind": "setting", "field": "reject_reasons", "to": list(new.get("reject_reasons") or [])})
    # Settings other modules add to the snapshot or the policy: named as they are, values as they are.
    known = {"name", "callback_url", "timezone", "reject_reasons", "policy"}
    for key in sorted(set(old) | set(new)):
        if key not in known and old.get(key) != new.get(key):
            changes.append({"kind": "setting", "field": "other", "key": key, "from": old.get(key), "to": new.get(key)})
    for key in sorted(set(old_p) | set(new_p)):
        if key not in ("thresholds", "reject_thresholds", "words", "banned_action") and old_p.get(key) != new_p.get(key):
            changes.append({"kind": "setting", "field": "other", "key": key, "from": old_p.get(key),
                            "to": new_p.get(key)})
    return changes


def admin_event(event: str, **fields: Any) -> dict[str, Any]:
    return {"kind": "admin", "event": event, **fields}


def _value(value: Any) -> str:
    if value is None or value == "":
        return "—"
    if isinstance(value, bool):
        return gettext("yes") if value else gettext("no")
    if isinstance(value, (int, float)):
        return decimal(value, 2) if isinstance(value, float) else str(value)
    return str(value)


def _terms(terms: list[str], n: int) -> str:
    text = ", ".join(gettext("“%(term)s”", term=t) for t in terms)
    return text + ("…" if n > len(terms) else "")


def _setting(change: dict[str, Any]) -> str:
    field = change.get("field")
    if field == "threshold":
        a, b = change.get("from"), change.get("to")
        return gettext("Flag threshold for “%(label)s”: %(from)s → %(to)s",
                       label=name_of(LABEL_NAMES, change.get("label")),
                       **{"from": gettext("model default") if a is None else _value(a),
                          "to": gettext("model default") if b is None else _value(b)})
    if field == "reject_threshold":
        a, b = change.get("from"), change.get("to")
        return gettext("Automatic rejection threshold for “%(label)s”: %(from)s → %(to)s",
                       label=name_of(LABEL_NAMES, change.get("label")),
                       **{"from": gettext("never") if a is None else _value(a),
                          "to": gettext("never") if b is None else _value(b)})
    if field == "words":
        parts = []
        listed = name_of(LIST_NAMES, change.get("list"))
        if change.get("n_added"):
            parts.append(gettext("“%(list)s” words: %(n)s added (%(terms)s)", list=listed, n=change["n_added"],
                                 terms=_terms(change.get("added") or [], change["n_added"])))
        if change.get("n_removed"):
            parts.append(gettext("“%(list)s” words: %(n)s removed (%(terms)s)", list=listed, n=change["n_removed"],
                                 terms=_terms(change.get("removed") or [], change["n_removed"])))
        return "; ".join(parts)
    if field == "banned_action":
        return gettext("Comments with a banned word: %(from)s → %(to)s",
                       **{"from": name_of(STATUS_NAMES, change.get("from")), "to": name_of(STATUS_NAMES, change.get("to"))})
    names = {"name": gettext("Site name"), "callback_url": gettext("Callback URL"), "timezone": gettext("Time zone")}
    if field in names:
        return gettext("%(setting)s: %(from)s → %(to)s", setting=names[field],
                       **{"from": _value(change.get("from")), "to": _value(change.get("to"))})
    if field == "reject_reasons":
        return gettext("Reject reasons: %(reasons)s", reasons=", ".join(change.get("to") or []) or "—")
    if field == "lexicon":
        return gettext("Lexicon “%(name)s” added to the “%(list)s” words", name=change.get("name", ""),
                       list=name_of(LIST_NAMES, change.get("list")))
    return gettext("%(setting)s: %(from)s → %(to)s", setting=str(change.get("key", field)),
                   **{"from": _value(change.get("from")), "to": _value(change.get("to"))})


def _admin(event: dict[str, Any]) -> str:
    kind = event.get("event")
    if kind == "site_created":
        return gettext("Site %(slug)s created", slug=event.get("slug", ""))
    if kind in ("key_created", "key_revoked"):
        name = event.get("name") or gettext("unnamed")
        if kind == "key_created":
            return gettext("API key %(prefix)s… (%(name)s) created", prefix=event.get("prefix", ""), name=name)
        return gettext("API key %(prefix)s… (%(name)s) revoked", prefix=event.get("prefix", ""), name=name)
    if kind == "user_created":
        return gettext("User %(name)s (%(role)s) created", name=event.get("username", ""),
                       role=name_of(ROLE_NAMES, event.get("role")))
    if kind == "user_updated":
        parts = []
        if event.get("role_from") != event.get("role_to"):
            parts.append(gettext("role %(from)s → %(to)s", **{"from": name_of(ROLE_NAMES, event.get("role_from")),
                                                              "to": name_of(ROLE_NAMES, event.get("role_to"))}))
        if event.get("active_from") != event.get("active_to"):
            parts.append(gettext("account active") if event.get("active_to") else gettext("account deactivated"))
        return gettext("User %(name)s: %(changes)s", name=event.get("username", ""), changes=", ".join(parts) or "—")
    return ", ".join(f"{k}: {v}" for k, v in event.items() if k not in ("kind", "event"))


def describe(reason: dict[str, Any]) -> str:
    """One stored admin change in the reader's language."""
    return _setting(reason) if reason.get("kind") == "setting" else _admin(reason)


def is_structured(reasons: Any) -> bool:
    """Whether an entry's reasons hold the admin change as data (then its English note is not shown)."""
    return isinstance(reasons, list) and any(isinstance(r, dict) and r.get("kind") in KINDS for r in reasons)
