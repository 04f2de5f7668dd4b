"""Template helpers: dates, scores, labels, reasons and the highlighted comment text."""
from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from flask import Blueprint

from service.dashboard.highlight import highlight, safe_url
from core.vocabulary import LABELS

LABEL_NAMES = {"toxicity": "Toxicity", "severe_toxicity": "Severe toxicity", "obscene": "Obscene",
               "threat": "Threat", "insult": "Insult", "identity_attack": "Identity attack"}
ACTOR_NAMES = {"model": "Model", "rule": "Word list", "moderator": "Moderator", "admin": "Admin", "system": "System"}


def when(value: datetime | None) -> str:
    if value is None:
        return ""
    if value.tzinfo is None:  # SQLite gives back naive UTC datetimes
        value = value.replace(tzinfo=timezone.utc)
    return value.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


def score_level(score: float | None) -> str:
    if score is None:
        return "none"
    return "high" if score >= 0.8 else "mid" if score >= 0.5 else "low"


def reason_text(reason: Any) -> str:
    """One reason as a line of plain text (escaped by the template)."""
    if not isinstance(reason, dict):
        return str(reason)
    kind = reason.get("kind")
    if kind == "score":
        label = LABEL_NAMES.get(reason.get("label"), str(reason.get("label")))
        try:
            return f"{label} {float(reason.get('score')):.2f} ≥ {float(reason.get('threshold')):.2f}"
        except (TypeError, ValueError):
            return label
    if kind == "word":
        return f"{reason.get('list', 'word')} word “{reason.get('term', '')}”"
    if kind == "reason":  # a moderator's reason (core.vocabulary.moderator_reason)
        return str(reason.get("text", ""))
    return ", ".join(f"{k}: {v}" for k, v in reason.items())


def init_templating(bp: Blueprint) -> None:
    @bp.app_template_global()
    def vigie_labels():
        return LABELS

    bp.add_app_template_filter(when, "when")
    bp.add_app_template_filter(score_level, "score_level")
    bp.add_app_template_filter(reason_text, "reason_text")
    bp.add_app_template_filter(safe_url, "safe_url")
    bp.add_app_template_filter(lambda label: LABEL_NAMES.get(label, label), "label_name")
    bp.add_app_template_filter(lambda actor: ACTOR_NAMES.get(actor, actor), "actor_name")
    bp.add_app_template_global(highlight, "highlight")
