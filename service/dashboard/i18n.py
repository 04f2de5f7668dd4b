"""The dashboard's languages, dates and numbers (Flask-Babel).

French is the default; English is available. The language is the moderator's own choice (``users.locale``, set
from the top bar), else the browser's ``Accept-Language``, else French. Dates are shown in the comment's site time
zone (``sites.timezone``, default Europe/Paris); numbers and dates follow the language's conventions (``0,92``,
``1 déc. 2026, 14:05``). Every string a person reads goes through the catalogue in ``translations/``: templates
with ``_()``, Python with ``gettext``/``lazy_gettext``, scripts through the JSON catalogue that ``base.html``
renders into each page (``js_messages``). Rebuild the catalogue with ``make translations``.
"""
from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from babel import dates as babel_dates
from babel import Locale
from babel import numbers as babel_numbers
from flask import Flask, g, has_request_context, redirect, request, url_for
from flask_babel import Babel, get_locale, gettext, lazy_gettext
from flask_login import current_user

from core.storage.models import User
from service.context import db_session

LANGUAGES = {"fr": "Français", "en": "English"}
DEFAULT_LOCALE = "fr"
DEFAULT_TIMEZONE = "Europe/Paris"
# Offered first in the site settings (any IANA name is accepted): France, its overseas departments, neighbours.
COMMON_TIMEZONES = ("Europe/Paris", "Europe/Brussels", "Europe/Luxembourg", "Europe/Zurich", "Europe/Monaco",
                    "America/Guadeloupe", "America/Martinique", "America/Cayenne", "Indian/Reunion",
                    "Indian/Mayotte", "Pacific/Noumea", "Pacific/Tahiti", "America/Montreal", "Africa/Dakar",
                    "Africa/Abidjan", "UTC")
TRANSLATIONS = Path(__file__).parent / "translations"

babel = Babel()

LABEL_NAMES = {"toxicity": lazy_gettext("Toxicity"), "severe_toxicity": lazy_gettext("Severe toxicity"),
               "obscene": lazy_gettext("Obscene"), "threat": lazy_gettext("Threat"),
               "insult": lazy_gettext("Insult"), "identity_attack": lazy_gettext("Identity attack")}
# What a high score of each label says about a comment, for "Very likely <what>".
LABEL_WHAT = {"toxicity": lazy_gettext("toxic"), "severe_toxicity": lazy_gettext("severely toxic"),
              "obscene": lazy_gettext("obscene"), "threat": lazy_gettext("a threat"),
              "insult": lazy_gettext("an insult"), "identity_attack": lazy_gettext("an identity attack")}
ACTOR_NAMES = {"model": lazy_gettext("Model"), "rule": lazy_gettext("Word list"),
               "moderator": lazy_gettext("Moderator"), "admin": lazy_gettext("Admin"),
               "system": lazy_gettext("System")}
# Names the system writes as actor_name (core/reports.py, core/erasure.py, workers/site_training.py): shown translated
SYSTEM_ACTOR_NAMES = {"reports": lazy_gettext("readers' reports"), "retention": lazy_gettext("retention period"),
                      "vigie train": lazy_gettext("command line")}
STATUS_NAMES = {"pending": lazy_gettext("pending"), "flagged": lazy_gettext("to review"),
                "approved": lazy_gettext("approved"), "rejected": lazy_gettext("rejected")}
TAB_NAMES = {"flagged": lazy_gettext("To review"), "reported": lazy_gettext("Reported"), "pending": lazy_gettext("Pending"),
             "approved": lazy_gettext("Approved"), "rejected": lazy_gettext("Rejected"), "all": lazy_gettext("All")}
ROLE_NAMES = {"moderator": lazy_gettext("moderator"), "admin": lazy_gettext("admin")}
LIST_NAMES = {"banned": lazy_gettext("banned"), "suspect": lazy_gettext("suspect"),
              "allowed": lazy_gettext("allowed")}
ACTION_NAMES = {"approved": lazy_gettext("approved"), "flagged": lazy_gettext("to review"),
                "rejected": lazy_gettext("rejected"), "pending": lazy_gettext("pending"),
                "undo": lazy_gettext("undo"), "settings": lazy_gettext("settings changed"),
                "key_created": lazy_gettext("API key created"), "key_revoked": lazy_gettext("API key revoked"),
                "site_created": lazy_gettext("site created"), "user_created": lazy_gettext("user created"),
                "user_updated": lazy_gettext("user changed"),
                # actions on an author (core.author_actions)
                "author_ban": lazy_gettext("author banned"), "author_unban": lazy_gettext("author's ban lifted"),
                "author_suspend": lazy_gettext("author suspended"),
                "author_unsuspend": lazy_gettext("author's suspension lifted"),
                "author_premoderate": lazy_gettext("author pre-moderated"),
                "author_unpremoderate": lazy_gettext("author's pre-moderation lifted"),
                "author_warn": lazy_gettext("author warned"),
                "author_withdraw_warning": lazy_gettext("author's warning withdrawn"),
                "author_note": lazy_gettext("note on an author"),
                "author_delete_note": lazy_gettext("note on an author removed"),
                "author_reject_waiting": lazy_gettext("author's waiting comments rejected"),
                "erased": lazy_gettext("erased"), "retention": lazy_gettext("erased (retention)"),
                "model_trained": lazy_gettext("site model trained"),
                "model_promoted": lazy_gettext("site model promoted"),
                "model_rolled_back": lazy_gettext("site model rolled back"),
                "model_declined": lazy_gettext("site model declined")}
HTTP_TITLES = {400: lazy_gettext("Bad request"), 401: lazy_gettext("Login required"),
               403: lazy_gettext("Access denied"), 404: lazy_gettext("Page not found"),
               405: lazy_gettext("Method not allowed"), 409: lazy_gettext("Conflict"),
               413: lazy_gettext("Request too large"), 429: lazy_gettext("Too many requests"),
               500: lazy_gettext("Server error"), 503: lazy_gettext("Service unavailable")}


def name_of(table: dict, key) -> str:
    value = table.get(key)
    return str(value) if value is not None else ("" if key is None else str(key))


def select_locale() -> str:
    if not has_request_context():
        return DEFAULT_LOCALE
    if "vigie_locale" not in g:
        choice = None
        try:
            if current_user.is_authenticated:
                user = db_session().get(User, current_user.id)
                choice = getattr(user, "locale", None)
        except Exception:  # noqa: BLE001 (no database: fall back to the browser's language)
            choice = None
        if choice not in LANGUAGES:
            choice = request.accept_languages.best_match(list(LANGUAGES), default=DEFAULT_LOCALE)
        g.vigie_locale = choice
    return g.vigie_locale


def locale_code() -> str:
    return str(get_locale() or DEFAULT_LOCALE)


def zone(name: str | None) -> ZoneInfo:
    try:
        return ZoneInfo(name or DEFAULT_TIMEZONE)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo(DEFAULT_TIMEZONE)


def valid_timezone(name: str) -> bool:
    return bool(name) and name in available_timezones()


def when(value: datetime | None, tz: str | None = None) -> str:
    """A date and time in the site's time zone, written the language's way ("1 déc. 2026, 14:05")."""
    if value is None:
        return ""
    if value.tzinfo is None:  # SQLite gives back naive UTC datetimes
        value = value.replace(tzinfo=timezone.utc)
    return babel_dates.format_datetime(value, "d MMM yyyy, HH:mm", tzinfo=zone(tz), locale=locale_code())


def decimal(value, digits: int = 2) -> str:
    """A number the language's way (``0,92`` in French)."""
    if value is None:
        return "—"
    return babel_numbers.format_decimal(value, format="0." + "0" * digits if digits else "#,##0",
                                        locale=locale_code())


def input_number(value) -> str:
    """A threshold as typed in a form field, the language's way (``0,72``; the form accepts both separators)."""
    return babel_numbers.format_decimal(value, format="0.####", locale=locale_code())


def significant(value) -> str:
    """A small figure with up to three significant digits (``0,00147``, ``0,41``)."""
    return babel_numbers.format_decimal(value, format="@##", locale=locale_code())


def number(value) -> str:
    """A count with the language's grouping (``12 345``)."""
    return babel_numbers.format_decimal(value or 0, format="#,##0", locale=locale_code())


def percent(value, digits: int = 0) -> str:
    """``0.92`` as ``92 %`` (French, with a no-break space) or ``92%`` (English)."""
    if value is None:
        return "—"
    pattern = Locale.parse(locale_code()).percent_formats[None].pattern
    if digits:
        pattern = pattern.replace("#,##0", "#,##0." + "0" * digits, 1)
    return babel_numbers.format_percent(value, format=pattern, locale=locale_code())


def likelihood(label: str, score: float) -> str:
    """A score said in words: "Very likely toxic (92 %)"."""
    what = name_of(LABEL_WHAT, label)
    pct = percent(score)
    if score >= 0.85:
        return gettext("Very likely %(what)s (%(pct)s)", what=what, pct=pct)
    if score >= 0.6:
        return gettext("Likely %(what)s (%(pct)s)", what=what, pct=pct)
    return gettext("Possibly %(what)s (%(pct)s)", what=what, pct=pct)


def js_messages() -> dict[str, str]:
    """The strings the page scripts show, in the page's language ({name} placeholders are filled by Vigie.t)."""
    return {
        "selected_one": gettext("{n} comment selected"), "selected_other": gettext("{n} comments selected"),
        "none_selected": gettext("No comment selected"),
        "approved_one": gettext("Approved {n} comment."), "approved_other": gettext("Approved {n} comments."),
        "rejected_one": gettext("Rejected {n} comment."), "rejected_other": gettext("Rejected {n} comments."),
        "with_reason": gettext("Reason: {reason}."), "undo_hint": gettext("Press u to undo."),
        "undone": gettext("Undone: {n} comment(s) back to their previous status."),
        "nothing_undone": gettext("Nothing undone: those comments were changed since."),
        "reject_many": gettext("{n} comments"), "reject_one": gettext("comment #{id}"),
        "session_expired": gettext("Your session has expired: reload the page."),
        "server_refused": gettext("The server refused the action ({status})."),
        "network_error": gettext("The server could not be reached: check the connection and try again."),
        "decided_by_you_approved": gettext("Approved by you"), "decided_by_you_rejected": gettext("Rejected by you"),
        "status_pending": gettext("pending"), "status_flagged": gettext("to review"),
        "status_approved": gettext("approved"), "status_rejected": gettext("rejected"),
        "chart_comments": gettext("Comments"),
        "chart_flag_rate": gettext("Flagged or rejected automatically (%)"),
        "chart_overturn_rate": gettext("Flagged at this threshold but approved by moderators (%)"),
        "chart_rejected_below": gettext("Below threshold but rejected by moderators"),
        "chart_axis_approved": gettext("approved by moderators (%)"),
        "chart_axis_rejected": gettext("rejected below threshold"),
        **{f"actor_{k}": str(v) for k, v in ACTOR_NAMES.items()},
    }


def _set_language():
    """The moderator's language, kept on their account."""
    language = request.form.get("language", "")
    if language in LANGUAGES:
        user = db_session().get(User, current_user.id)
        if user is not None:
            user.locale = language
            db_session().commit()
    target = request.form.get("next", "")
    if not (target.startswith("/") and not target.startswith("//") and "\\" not in target):
        target = url_for("dashboard.queue")
    return redirect(target)


def init_i18n(app: Flask, bp) -> None:
    app.config.setdefault("BABEL_DEFAULT_LOCALE", DEFAULT_LOCALE)
    app.config.setdefault("BABEL_DEFAULT_TIMEZONE", DEFAULT_TIMEZONE)
    app.config.setdefault("BABEL_TRANSLATION_DIRECTORIES", str(TRANSLATIONS))
    babel.init_app(app, locale_selector=select_locale)
    if bp._got_registered_once:  # a second app in this process: the blueprint already carries what follows
        return
    bp.add_url_rule("/account/language", "set_language", _set_language, methods=["POST"])

    @bp.app_context_processor
    def _i18n_globals():
        return {"lang": locale_code, "languages": LANGUAGES, "js_messages": js_messages}

    for name, fn in {"when": when, "decimal": decimal, "number": number, "percent": percent,
                     "input_number": input_number}.items():
        bp.add_app_template_filter(fn, name)
    bp.add_app_template_filter(lambda who: str(SYSTEM_ACTOR_NAMES.get(who, who or "")), "who_name")
    for name, table in {"label_name": LABEL_NAMES, "actor_name": ACTOR_NAMES, "status_name": STATUS_NAMES,
                        "tab_name": TAB_NAMES, "role_name": ROLE_NAMES, "list_name": LIST_NAMES,
                        "action_name": ACTION_NAMES}.items():
        bp.add_app_template_filter(lambda key, _t=table: name_of(_t, key), name)
