"""The audit log: every decision (model, word-list rule, moderator) and settings change, newest first, filterable
by site, actor, action, person, comment and date, paged by id (keyset)."""
from __future__ import annotations

from datetime import date, datetime, time, timedelta, timezone
from urllib.parse import urlencode

from flask_babel import gettext
from flask import abort, render_template, request
from sqlalchemy import select

from service.context import db_session
from service.dashboard.blueprint import bp, is_row_id
from core.storage.models import Actor, AuditEntry, Site

PAGE_SIZE = 50
ACTIONS = ("approved", "flagged", "rejected", "pending", "undo", "settings", "key_created", "key_revoked",
           "site_created", "user_created", "user_updated",
           "author_ban", "author_unban", "author_suspend", "author_unsuspend", "author_premoderate",
           "author_unpremoderate", "author_warn", "author_withdraw_warning", "author_note", "author_delete_note",
           "author_reject_waiting", "erased", "retention", "model_trained", "model_promoted",
           "model_rolled_back", "model_declined")


def _date(name: str) -> date | None:
    value = request.args.get(name, "")
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        abort(400, description=gettext("%(field)s: expected a date as YYYY-MM-DD", field=name))


def _int(name: str) -> int | None:
    value = request.args.get(name, "")
    if not value:
        return None
    if not is_row_id(value):
        abort(400, description=gettext("%(field)s: expected a number", field=name))
    return int(value)


@bp.route("/audit")
def audit_log():
    args = request.args
    actor = args.get("actor", "")
    if actor and actor not in Actor.__members__:
        abort(400, description=gettext("actor: unknown actor"))
    action = args.get("action", "")[:40]
    who = args.get("who", "").strip()[:200]
    site_id, comment_id, before = _int("site"), _int("comment"), _int("before")
    since, until = _date("since"), _date("until")
    stmt = select(AuditEntry)
    if site_id:
        stmt = stmt.where(AuditEntry.site_id == site_id)
    if actor:
        stmt = stmt.where(AuditEntry.actor == actor)
    if action:
        stmt = stmt.where(AuditEntry.action == action)
    if who:
        stmt = stmt.where(AuditEntry.actor_name == who)
    if comment_id:
        stmt = stmt.where(AuditEntry.comment_id == comment_id)
    if since:
        stmt = stmt.where(AuditEntry.created_at >= datetime.combine(since, time.min, tzinfo=timezone.utc))
    if until:
        stmt = stmt.where(AuditEntry.created_at < datetime.combine(until + timedelta(days=1), time.min,
                                                                   tzinfo=timezone.utc))
    if before:
        stmt = stmt.where(AuditEntry.id < before)
    s = db_session()
    entries = list(s.scalars(stmt.order_by(AuditEntry.id.desc()).limit(PAGE_SIZE + 1)))
    more = len(entries) > PAGE_SIZE
    entries = entries[:PAGE_SIZE]
    filters = {k: v for k, v in args.items() if k != "before" and v}
    next_url = "?" + urlencode({**filters, "before": entries[-1].id}) if more else None
    sites = list(s.scalars(select(Site).order_by(Site.name)))
    return render_template("audit.html", entries=entries, sites=sites, site_names={x.id: x.name for x in sites},
                           site_zones={x.id: x.timezone for x in sites},
                           filters=filters, actors=list(Actor.__members__), actions=ACTIONS, next_url=next_url)
