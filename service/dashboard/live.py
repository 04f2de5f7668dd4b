"""The live queue and two moderators on one comment.

*Live*: the open queue asks ``GET /queue/live`` every few seconds with the last audit entry and the last comment it
knows (``since_event``, ``since_comment``) and gets back what changed since: status changes (who, when, the new
status version), the ids of comments that entered its tab and match its filters, and the tab counts. A short poll
rather than server-sent events: the web process runs gunicorn's sync workers, where an open event stream holds a
whole worker per open dashboard tab (and is cut by the worker timeout); a poll is one short request on primary-key
ranges (``audit_log.id > n``, ``comments.id > n``) and the ``(status, id)`` index, then the connection is free.

*Two moderators*: every card carries the version of the status its moderator saw (``status_version``); a
decision sends it back, and the decision endpoint refuses (409) a decision on a comment that a person decided
since, saying who and when ("Déjà rejeté par Marie à 14:02"). Automatic decisions in between (the model scoring
a pending comment) do not count: nobody decided it knowingly. The poll also says who else has the focused comment
open ("Marie consulte aussi ce commentaire"), from short-lived Redis entries."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

import time

from flask import abort, make_response, render_template, request
from flask_babel import gettext
from flask_login import current_user
from redis.exceptions import RedisError
from sqlalchemy import func, select
from sqlalchemy.orm import Session, selectinload

from core.queues import VIEWING_PREFIX
from core.storage.models import AuditEntry, Comment
from service.context import db_session, vigie
from service.dashboard.blueprint import bp, is_row_id
from service.dashboard.i18n import STATUS_NAMES, locale_code, name_of, when, zone
from core import articles, reports
from service.dashboard.queries import (BadFilter, HUMAN_ACTORS, Page, QueueFilters, apply_filters,
                                       automatic_decisions, moderator_decisions, parents_of, reported_only,
                                       tab_counts)

EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
MAX_EVENTS = 500  # status changes per poll; a busier interval is read over the next polls
MAX_NEW = 200  # new comment ids per poll
MAX_CARDS = 100  # cards per "show them" request
# Each poll reads again the last few ids before its cursors: on PostgreSQL, a transaction that took an id earlier
# can commit after one that took a later id. Reading an event twice is harmless (the page compares versions).
OVERLAP = 20
VIEWING_TTL_S = 15  # a moderator is "on" a comment for this long after their page last said so (3 polls)


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(timezone.utc)


def status_version(comment: Comment) -> str:
    """What a moderator saw of a comment's status: the status and the instant it was set (microseconds)."""
    if comment.decided_at is None:
        return comment.status
    return f"{comment.status}.{(_utc(comment.decided_at) - EPOCH) // timedelta(microseconds=1)}"


def _at(value: datetime, tz: str | None) -> str:
    """"at 14:02" today (in the site's time zone), "on 30 Nov 2026 at 14:02" another day."""
    from babel import dates as babel_dates

    local = _utc(value).astimezone(zone(tz))
    time_text = babel_dates.format_time(local, "HH:mm", locale=locale_code())
    if local.date() == datetime.now(zone(tz)).date():
        return gettext("at %(time)s", time=time_text)
    return gettext("on %(date)s at %(time)s", date=babel_dates.format_date(local, "d MMM yyyy", locale=locale_code()),
                   time=time_text)


def already_decided_message(status: str, name: str, at: datetime, tz: str | None) -> str:
    moment = _at(at, tz)
    name = name or gettext("a moderator")
    if status == "rejected":
        return gettext("Already rejected by %(name)s %(when)s.", name=name, when=moment)
    if status == "approved":
        return gettext("Already approved by %(name)s %(when)s.", name=name, when=moment)
    return gettext("Already put back to “%(status)s” by %(name)s %(when)s.", status=name_of(STATUS_NAMES, status),
                   name=name, when=moment)


def decision_conflicts(session: Session, comments: list[Comment], seen: dict[int, str],
                       username: str) -> list[dict[str, Any]]:
    """The comments a person other than ``username`` decided since this moderator saw them (the version they
    saw is in ``seen``; comments without one are not checked, as before versions existed)."""
    stale = [c for c in comments if c.id in seen and seen[c.id] != status_version(c) and c.decided_by in HUMAN_ACTORS]
    if not stale:
        return []
    latest = moderator_decisions(session, [c.id for c in stale])
    conflicts = []
    for comment in stale:
        entry = latest.get(comment.id)
        name = entry.actor_name if entry else ""
        if name and name == username:  # this moderator, in another tab: they know
            continue
        at = entry.created_at if entry else comment.decided_at
        tz = comment.site.timezone if comment.site else None
        conflicts.append({"id": comment.id, "status": comment.status, "version": status_version(comment),
                          "by": name, "at": _utc(at).isoformat(),
                          "message": already_decided_message(comment.status, name, at, tz)})
    return conflicts


def conflict_message(conflicts: list[dict[str, Any]], asked: int) -> str:
    first = conflicts[0]
    if asked == 1:
        return first["message"]
    return gettext("Comment #%(id)s: %(message)s Nothing was decided.", id=first["id"], message=first["message"])


@bp.app_template_filter("status_version")
def _status_version_filter(comment: Comment) -> str:
    return status_version(comment)


@bp.app_template_global("live_cursors")
def live_cursors() -> dict[str, int]:
    """Where the page's live updates start: the newest audit entry and comment when the page was made."""
    s = db_session()
    return {"event": s.scalar(select(func.max(AuditEntry.id))) or 0,
            "comment": s.scalar(select(func.max(Comment.id))) or 0}


@bp.app_template_global("live_messages")
def live_messages() -> dict[str, str]:
    """The strings static/live.js shows, in the page's language ({name} placeholders)."""
    return {
        "new_one": gettext("{n} new comment — show"), "new_other": gettext("{n} new comments — show"),
        "announce_one": gettext("{n} new comment in this queue."),
        "announce_other": gettext("{n} new comments in this queue."),
        "elsewhere_rejected": gettext("Comment #{id} was rejected by {name}."),
        "elsewhere_approved": gettext("Comment #{id} was approved by {name}."),
        "elsewhere_other": gettext("Comment #{id} is now “{status}”."),
        "by_rejected": gettext("Rejected by {name}"), "by_approved": gettext("Approved by {name}"),
        "someone": gettext("a moderator"),
        "panel_open": gettext("Author and history"), "panel_close": gettext("Close the details"),
        "viewers": gettext("Also looking at this comment: {names}"),
    }


def _cursor_arg(name: str) -> int | None:
    value = request.args.get(name, "")
    if not value:
        return None
    if value == "0":  # (an empty database: nothing seen yet)
        return 0
    if not is_row_id(value):
        abort(400, description=gettext("%(field)s: expected a number", field=name))
    return int(value)


def viewers(comment_id: int | None) -> list[str]:
    """Note that this moderator has ``comment_id`` focused, and say who else has (Redis, entries expire after
    VIEWING_TTL_S). Without Redis, nobody is shown: presence is a courtesy, the refusal above is the guarantee."""
    if comment_id is None:
        return []
    key = f"{VIEWING_PREFIX}{comment_id}"
    now = time.time()
    try:
        pipe = vigie().redis.pipeline()
        pipe.zremrangebyscore(key, "-inf", now)
        pipe.zadd(key, {current_user.username: now + VIEWING_TTL_S})
        pipe.expire(key, VIEWING_TTL_S)
        pipe.zrange(key, 0, -1)
        names = pipe.execute()[-1]
    except RedisError:
        return []
    names = [n.decode() if isinstance(n, bytes) else str(n) for n in names]
    return sorted(n for n in names if n != current_user.username)


def _in_tab(stmt, f: QueueFilters):
    if f.tab == "reported":
        return reported_only(stmt)
    return stmt if f.tab == "all" else stmt.where(Comment.status == f.tab)


def _live_filters() -> QueueFilters:
    try:
        return QueueFilters.from_args(request.args)
    except BadFilter as exc:
        abort(400, description=str(exc))


@bp.route("/queue/live")
def queue_live():
    """What changed since the page's cursors: status changes, comments new to this tab, tab counts (JSON)."""
    f = _live_filters()
    since_event, since_comment = _cursor_arg("since_event"), _cursor_arg("since_comment")
    viewing = _cursor_arg("viewing")
    s = db_session()
    if since_event is None or since_comment is None:  # a page without cursors starts from now
        cursors = live_cursors()
        return {"changes": [], "new": [], "counts": tab_counts(s, f), "since_event": cursors["event"],
                "since_comment": cursors["comment"], "viewing": viewing, "viewers": viewers(viewing)}
    events = list(s.execute(
        select(AuditEntry.id, AuditEntry.comment_id, AuditEntry.actor, AuditEntry.actor_name, AuditEntry.action,
               AuditEntry.status_to, AuditEntry.created_at)
        .where(AuditEntry.id > since_event - OVERLAP, AuditEntry.comment_id.is_not(None), AuditEntry.status_to.is_not(None))
        .order_by(AuditEntry.id).limit(MAX_EVENTS)))
    next_event = max(since_event, events[-1].id if events else 0)
    last = {}
    for e in events:
        last[e.comment_id] = e
    current = {c.id: c for c in s.scalars(select(Comment).where(Comment.id.in_(list(last)))
                                          .options(selectinload(Comment.site)))} if last else {}
    changes = []
    for comment_id, e in last.items():
        c = current.get(comment_id)
        if c is None:
            continue
        tz = c.site.timezone if c.site else None
        changes.append({"id": c.id, "status": c.status, "version": status_version(c), "actor": e.actor,
                        "by": e.actor_name if e.actor in HUMAN_ACTORS else "", "action": e.action,
                        "at": _utc(e.created_at).isoformat(), "when": when(e.created_at, tz),
                        "status_name": name_of(STATUS_NAMES, c.status)})
    # Comments that entered this tab: received since (pending first) or moved into its status since.
    new_ids: list[int] = []
    entered = {cid for cid, e in last.items() if f.tab in ("all", "reported") or e.status_to == f.tab}
    stmt = _in_tab(apply_filters(select(Comment.id), f), f)
    if entered:
        new_ids += list(s.scalars(stmt.where(Comment.id.in_(entered))))
    next_comment = since_comment
    if f.tab in ("pending", "all"):
        received = list(s.scalars(select(Comment.id).where(Comment.id > since_comment - OVERLAP)
                                  .order_by(Comment.id).limit(MAX_NEW)))
        if received:
            next_comment = max(since_comment, received[-1])
            new_ids += list(s.scalars(stmt.where(Comment.id.in_(received))))
    return {"changes": changes, "new": sorted(set(new_ids))[:MAX_NEW], "counts": tab_counts(s, f),
            "since_event": next_event, "since_comment": next_comment, "viewing": viewing,
            "viewers": viewers(viewing)}


@bp.route("/queue/live/cards")
def queue_live_cards():
    """The cards of these comments (``ids=1,2,3``) that are still in this tab, in the queue's order (HTML)."""
    f = _live_filters()
    raw = [part for part in request.args.get("ids", "").split(",") if part]
    if not raw or len(raw) > MAX_CARDS or not all(is_row_id(part) for part in raw):
        abort(400, description=gettext("ids: expected up to %(n)s comment ids separated by commas", n=MAX_CARDS))
    s = db_session()
    stmt = apply_filters(select(Comment), f).where(Comment.id.in_({int(part) for part in raw})).options(
        selectinload(Comment.result), selectinload(Comment.site))
    stmt = _in_tab(stmt, f)
    if f.tab == "reported":
        stmt = stmt.order_by(Comment.report_count.desc(), Comment.id.asc())
    elif f.sort == "score":
        stmt = stmt.order_by(Comment.score.desc().nulls_last(), Comment.id.desc())
    else:
        stmt = stmt.order_by(Comment.id.asc() if f.sort == "oldest" else Comment.id.desc())
    page = Page(list(s.scalars(stmt)), None, f)
    ids = [c.id for c in page.comments]
    page.decisions = automatic_decisions(s, ids)
    page.parents = parents_of(s, page.comments)
    page.moderations = moderator_decisions(s, ids)
    page.articles = articles.for_comments(s, page.comments)
    reported = [c.id for c in page.comments if c.report_count]
    page.reports = reports.reason_counts(s, reported)
    page.report_texts = reports.reader_texts(s, reported)
    return make_response(render_template("_cards.html", page=page, f=f))
