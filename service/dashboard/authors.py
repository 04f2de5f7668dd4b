"""Authors in the dashboard: the author page (their standing, every comment of theirs on the site with its
decision, their private notes and the history of actions on them) and the actions, each a plain form POST on the
same page answered by a redirect: ban, suspend N days, pre-moderate, warn, note, the reversals, and "reject every
comment of theirs still waiting" (undone like any bulk action: the queue's undo). ``core.author_actions`` does the
work (standing, history, audit entry, signed ``author.action`` event); ``core.authors`` says what a standing does to
their next comments.

An author is the author id a site sends with its comments, per site: ``/authors/<site id>?id=<author id>`` (a query
parameter: an id may hold any character)."""
from __future__ import annotations

from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext, lazy_gettext, ngettext
from flask_login import current_user
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from core import authors
from core.author_actions import ALL_ACTIONS, MAX_SUSPENSION_DAYS, REJECT_WAITING, AuthorActionError, act, reject_waiting
from core.storage.models import Comment, Site
from core.vocabulary import Actor
from service.context import db_session, vigie
from service.dashboard.blueprint import ID, bp, is_row_id
from service.dashboard.i18n import when
from service.dashboard.queries import automatic_decisions, moderator_decisions
from service.dashboard.queue import _can_undo, _push_undo

PAGE_SIZE = 50
HISTORY = 200

ERRORS = {
    "unknown_author": lazy_gettext("This author id cannot be used."),
    "unknown_action": lazy_gettext("Unknown action."),
    "reason_required": lazy_gettext("Write the text first."),
    "reason_invalid": lazy_gettext("NUL characters are not accepted."),
    "reason_too_long": lazy_gettext("The text is too long (2,000 characters at most)."),
    "bad_days": lazy_gettext("A suspension lasts from 1 to 365 days."),
    "already": lazy_gettext("That is already in force."),
    "not_in_force": lazy_gettext("Nothing to lift: it is not in force."),
    "no_such_action": lazy_gettext("That warning or note was already withdrawn."),
    "unknown_reason": lazy_gettext("That is not one of the site's reject reasons."),
    "nothing_waiting": lazy_gettext("This author has no comment waiting."),
    "conflict": lazy_gettext("Another moderator acted on this author at the same moment: try again."),
}
DONE = {
    "ban": lazy_gettext("Author banned: their new comments will be rejected."),
    "unban": lazy_gettext("Ban lifted."),
    "unsuspend": lazy_gettext("Suspension lifted."),
    "premoderate": lazy_gettext("Author under pre-moderation: their new comments will wait for a moderator."),
    "unpremoderate": lazy_gettext("Pre-moderation lifted."),
    "warn": lazy_gettext("Warning recorded."),
    "withdraw_warning": lazy_gettext("Warning withdrawn."),
    "note": lazy_gettext("Note added."),
    "delete_note": lazy_gettext("Note removed."),
}
# What each action is called in the history (the audit log names them ``author_<action>``, see i18n.ACTION_NAMES).
ACTION_LABELS = {
    "ban": lazy_gettext("Author banned"), "unban": lazy_gettext("Ban lifted"), "suspend": lazy_gettext("Suspended"),
    "unsuspend": lazy_gettext("Suspension lifted"), "premoderate": lazy_gettext("Put under pre-moderation"),
    "unpremoderate": lazy_gettext("Pre-moderation lifted"), "warn": lazy_gettext("Warned"),
    "withdraw_warning": lazy_gettext("Warning withdrawn"), "note": lazy_gettext("Note"),
    "delete_note": lazy_gettext("Note removed"), REJECT_WAITING: lazy_gettext("Waiting comments rejected"),
}


def author_url(site_id: int, author_id: str) -> str:
    return url_for("dashboard.author_page", site_id=site_id, id=author_id)


@bp.app_template_global("author_url")
def _author_url(site_id: int, author_id: str) -> str:
    return author_url(site_id, author_id)


@bp.app_template_global("author_standing")
def _author_standing(site_id: int, author_id: str | None):
    """The author's standing row (or None), for the cards' detail panel."""
    return authors.standing_of(db_session(), site_id, author_id) if author_id else None


@bp.app_template_test("author_suspended")
def _is_suspended(standing) -> bool:
    return authors.suspended(standing)


@bp.app_template_filter("author_of")
def _author_of(reasons) -> str | None:
    """The author an audit entry is about (its ``author`` reason), if any."""
    for reason in reasons or ():
        if isinstance(reason, dict) and reason.get("kind") == "author" and reason.get("author_id"):
            return str(reason["author_id"])
    return None


@bp.app_template_filter("author_action_name")
def _action_name(action: str) -> str:
    return str(ACTION_LABELS.get(action, action))


def _site_and_author(site_id: int) -> tuple[Site, str]:
    site = db_session().get(Site, site_id)
    if site is None:
        abort(404, description=gettext("No such site."))
    author_id = request.args.get("id", "").strip()
    if not author_id or len(author_id) > 200:
        abort(400, description=gettext("id: expected the author's id (at most 200 characters)"))
    return site, author_id


def _before() -> int | None:
    value = request.args.get("before", "")
    if not value:
        return None
    if not is_row_id(value):
        abort(400, description=gettext("%(field)s: expected a number", field="before"))
    return int(value)


def _render(site: Site, author_id: str, error: str | None = None, status: int = 200):
    s = db_session()
    found = authors.summary(s, site.id, author_id, recent=HISTORY)
    if not found.known:
        abort(404, description=gettext("No author with this id on this site."))
    stmt = (select(Comment).where(Comment.site_id == site.id, Comment.author_id == author_id)
            .options(selectinload(Comment.result)).order_by(Comment.id.desc()))
    before = _before()
    if before:
        stmt = stmt.where(Comment.id < before)
    comments = list(s.scalars(stmt.limit(PAGE_SIZE + 1)))
    more = len(comments) > PAGE_SIZE
    comments = comments[:PAGE_SIZE]
    ids = [c.id for c in comments]
    notes = [a for a in found.actions if a.action == "note" and a.reverted_at is None]
    return render_template(
        "author.html", site=site, author=found, standing=found.standing, comments=comments,
        decisions=automatic_decisions(s, ids), moderations=moderator_decisions(s, ids), notes=notes,
        suspended=authors.suspended(found.standing), next_before=comments[-1].id if more else None,
        error=error, max_days=MAX_SUSPENSION_DAYS, can_undo=_can_undo(),
        reject_reasons=list(site.reject_reasons or [])), status


def _int_field(name: str) -> int | None:
    value = request.form.get(name, "").strip()
    return int(value) if value and is_row_id(value) else None


@bp.route(f"/authors/<{ID}:site_id>", methods=["GET", "POST"])
def author_page(site_id: int):
    site, author_id = _site_and_author(site_id)
    if request.method == "GET":
        return _render(site, author_id)
    action = request.form.get("action", "")
    if action not in ALL_ACTIONS:
        return _render(site, author_id, str(ERRORS["unknown_action"]), 400)
    s = db_session()
    if not authors.summary(s, site.id, author_id, recent=1).known:
        abort(404, description=gettext("No author with this id on this site."))
    actor = Actor.moderator.value  # as for decisions in the queue; the person is actor_name
    try:
        if action == REJECT_WAITING:
            row, changes = reject_waiting(s, site, author_id, actor=actor,
                                          actor_name=current_user.username, reason=request.form.get("reason"),
                                          explanation=request.form.get("explanation"), services=vigie())
        else:
            days = request.form.get("days", "").strip()
            if action == "suspend" and not (days.isascii() and days.isdigit() and len(days) <= 3):
                raise AuthorActionError("bad_days")
            row = act(s, site, author_id, action, actor=actor, actor_name=current_user.username,
                      reason=request.form.get("reason"), days=int(days) if action == "suspend" else None,
                      target_id=_int_field("target"), services=vigie())
            changes = []
    except AuthorActionError as exc:
        s.rollback()
        return _render(site, author_id, str(ERRORS.get(exc.code, ERRORS["unknown_action"])),
                       409 if exc.code == "conflict" else 400)
    s.commit()
    if changes:
        _push_undo(changes)
        flash(ngettext("%(num)d comment rejected.", "%(num)d comments rejected.", len(changes)) + " "
              + gettext("“Undo” puts them back."))
    elif action == "suspend":
        flash(gettext("Author suspended until %(until)s: their new comments will be rejected until then.",
                      until=when(row.until, site.timezone)))
    else:
        flash(str(DONE[action]))
    return redirect(author_url(site.id, author_id))
