"""Template helpers: scores said in words, reasons, moderators' decisions and the highlighted comment text (dates,
numbers and names in the page's language come from service.dashboard.i18n)."""
from __future__ import annotations

from datetime import datetime
from typing import Any

from flask import Blueprint
from flask_babel import gettext

from core.vocabulary import LABELS
from service.dashboard.highlight import highlight, safe_url
from service.dashboard.i18n import LABEL_NAMES, LIST_NAMES, decimal, likelihood, name_of, when


def score_level(score: float | None) -> str:
    if score is None:
        return "none"
    return "high" if score >= 0.8 else "mid" if score >= 0.5 else "low"


def reason_text(reason: Any) -> str:
    """One reason as a line a moderator understands (plain text, escaped by the template)."""
    if not isinstance(reason, dict):
        return str(reason)
    kind = reason.get("kind")
    if kind == "score":
        try:
            return likelihood(str(reason.get("label")), float(reason.get("score")))
        except (TypeError, ValueError):
            return name_of(LABEL_NAMES, reason.get("label"))
    if kind == "word":
        return gettext("Word from the “%(list)s” list: “%(term)s”", list=name_of(LIST_NAMES, reason.get("list", "")),
                       term=reason.get("term", ""))
    if kind == "reports":  # core.reports: readers' reports reached the site's threshold
        return gettext("Reported by %(num)s readers (threshold %(threshold)s)", num=reason.get("count", "?"),
                       threshold=reason.get("threshold", "?"))
    if kind == "erased":
        return gettext("Erased before its decision")
    if kind == "author":  # core.vocabulary.author_reason: the author's standing decided it, or an action on them
        return author_reason_text(reason)
    # a moderator's reason or explanation (core.vocabulary.moderator_reason, explanation_reason)
    if kind in ("reason", "explanation"):
        return str(reason.get("text", ""))
    return ", ".join(f"{k}: {v}" for k, v in reason.items())


def author_reason_text(reason: dict) -> str:
    standing, until = reason.get("standing"), reason.get("until")
    if standing == "banned":
        return gettext("Author banned: rejected whatever the score")
    if standing == "suspended":
        return gettext("Author suspended until %(date)s: rejected whatever the score", date=_date(until))
    if standing == "premoderated":
        return gettext("Author pre-moderated: held for review whatever the score")
    if until:
        return gettext("Author “%(author)s”, until %(date)s", author=reason.get("author_id", ""), date=_date(until))
    return gettext("Author “%(author)s”", author=reason.get("author_id", ""))


def _date(value: Any) -> str:
    try:
        return when(datetime.fromisoformat(str(value)))
    except ValueError:
        return str(value)


def reason_figures(reason: Any) -> str:
    """The figures behind a reason, for its hover title: "Toxicity: score 0.92, flag threshold 0.41"."""
    if not isinstance(reason, dict) or reason.get("kind") != "score":
        return ""
    try:
        return gettext("%(label)s: score %(score)s, flag threshold %(threshold)s",
                       label=name_of(LABEL_NAMES, reason.get("label")), score=decimal(float(reason.get("score"))),
                       threshold=decimal(float(reason.get("threshold"))))
    except (TypeError, ValueError):
        return ""


def init_templating(bp: Blueprint) -> None:
    @bp.app_template_global()
    def vigie_labels():
        return LABELS

    bp.add_app_template_filter(score_level, "score_level")
    bp.add_app_template_filter(reason_text, "reason_text")
    bp.add_app_template_filter(reason_figures, "reason_figures")
    bp.add_app_template_filter(safe_url, "safe_url")
    bp.add_app_template_global(highlight, "highlight")
