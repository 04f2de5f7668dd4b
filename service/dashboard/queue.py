"""The moderation queue: pages, card fragments for infinite scrolling, the detail panel, and the moderator
actions (approve, reject with an optional reason, bulk, undo) answered in JSON so the page never reloads.

Every status change goes through ``core.decisions.record_decision`` (actor ``moderator``), so the audit log
and the outgoing webhooks see it."""
from __future__ import annotations

import json
import logging
from typing import Annotated, Literal
from urllib.parse import parse_qsl

from flask import abort, make_response, render_template, request
from flask_babel import gettext
from flask_login import current_user
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError
from redis.exceptions import RedisError
from sqlalchemy import select
from werkzeug.datastructures import MultiDict

from core import articles, reports
from core.decisions import record_decision
from core.queues import UNDO_PREFIX, UNDO_TTL_S
from core.storage.models import Comment, Site
from core.vocabulary import Actor, explanation_reason, moderator_reason
from service.context import db_session, vigie
from service.dashboard.blueprint import ID, MAX_ID, bp
from service.dashboard.queries import (BadFilter, QueueFilters, author_history, automatic_decisions,
                                       comment_history, moderator_decisions, parents_of, queue_page, tab_counts)
from service.errors import error_response, validation_message

log = logging.getLogger(__name__)
UNDO_DEPTH = 10
MAX_BULK = 200


def _filters(args) -> QueueFilters:
    try:
        return QueueFilters.from_args(args)
    except BadFilter as exc:
        abort(400, description=str(exc))


def _sites():
    return list(db_session().scalars(select(Site).order_by(Site.name)))


@bp.route("/")
@bp.route("/queue")
def queue():
    f = _filters(request.args)
    s = db_session()
    sites = _sites()
    return render_template("queue.html", page=queue_page(s, f), counts=tab_counts(s, f), f=f, sites=sites,
                           reject_reasons={str(site.id): list(site.reject_reasons or []) for site in sites})


@bp.route("/queue/cards")
def queue_cards():
    """The next page of cards as an HTML fragment; the cursor after it is in the ``X-Next-Cursor`` header."""
    f = _filters(request.args)
    page = queue_page(db_session(), f)
    response = make_response(render_template("_cards.html", page=page, f=f))
    response.headers["X-Next-Cursor"] = page.next_cursor or ""
    return response


@bp.route("/queue/counts")
def queue_counts():
    """The tab counts for these filters (the open page refreshes them every 30 seconds)."""
    return {"counts": tab_counts(db_session(), _filters(request.args))}


def _comment_or_404(comment_id: int) -> Comment:
    comment = db_session().get(Comment, comment_id)
    if comment is None:
        abort(404, description=gettext("No such comment."))
    return comment


def _panel_context(comment: Comment) -> dict:
    s = db_session()
    return {"comment": comment, "history": comment_history(s, comment.id), "author": author_history(s, comment),
            "parent": parents_of(s, [comment]).get((comment.site_id, comment.parent_id))}


@bp.route(f"/comments/<{ID}:comment_id>/panel")
def comment_panel(comment_id: int):
    return render_template("_panel.html", **_panel_context(_comment_or_404(comment_id)))


@bp.route(f"/comments/<{ID}:comment_id>")
def comment_page(comment_id: int):
    comment = _comment_or_404(comment_id)
    s = db_session()
    page_like = {"decisions": automatic_decisions(s, [comment.id]), "parents": parents_of(s, [comment]),
                 "moderations": moderator_decisions(s, [comment.id]),
                 "articles": articles.for_comments(s, [comment]), "reports": reports.reason_counts(s, [comment.id]),
                 "report_texts": reports.reader_texts(s, [comment.id])}
    return render_template("comment.html", c=comment, page=page_like, **_panel_context(comment),
                           reject_reasons={str(comment.site_id): list(comment.site.reject_reasons or [])})


class DecideIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    ids: Annotated[list[Annotated[int, Field(gt=0, le=MAX_ID)]], Field(min_length=1, max_length=MAX_BULK)]
    status: Literal["approved", "rejected"]
    reason: Annotated[str, StringConstraints(strip_whitespace=True, max_length=200)] | None = None
    # The moderator's own words on a rejection (audit note, sent to the site's callback with the decision).
    explanation: Annotated[str, StringConstraints(strip_whitespace=True, max_length=1000)] | None = None
    query: Annotated[str, StringConstraints(max_length=2000)] = ""


def _counts_for(query: str) -> dict[str, int] | None:
    if "\x00" in query:
        return None
    try:
        f = QueueFilters.from_args(MultiDict(parse_qsl(query.lstrip("?"))))
    except BadFilter:
        return None
    return tab_counts(db_session(), f)


def _undo_key() -> str:
    return f"{UNDO_PREFIX}{current_user.id}"


def _push_undo(changes: list[list]) -> bool:
    """Remember an action for undo: the last UNDO_DEPTH actions per user, in Redis (a bulk action can hold
    hundreds of ids: too much for the session cookie). Without Redis the action stands, without undo."""
    try:
        pipe = vigie().redis.pipeline()
        pipe.lpush(_undo_key(), json.dumps(changes))
        pipe.ltrim(_undo_key(), 0, UNDO_DEPTH - 1)
        pipe.expire(_undo_key(), UNDO_TTL_S)
        pipe.execute()
        return True
    except RedisError:
        log.warning("undo history unavailable (Redis)", exc_info=True)
        return False


def _pop_undo() -> list[list] | None:
    raw = vigie().redis.lpop(_undo_key())
    return json.loads(raw) if raw else None


def _can_undo() -> bool:
    try:
        return bool(vigie().redis.llen(_undo_key()))
    except RedisError:
        return False


@bp.route("/actions/decide", methods=["POST"])
def decide():
    try:
        body = DecideIn.model_validate(request.get_json(silent=True) or {})
    except ValidationError as exc:
        message, details = validation_message(exc)
        return error_response(400, "invalid_request", message, details=details)
    s = db_session()
    comments = list(s.scalars(select(Comment).where(Comment.id.in_(set(body.ids)))))
    found = {c.id for c in comments}
    missing = [i for i in body.ids if i not in found]
    if missing:
        return error_response(404, "not_found", gettext("No comment with id %(id)s.", id=missing[0]),
                              missing=missing)
    reason = body.reason or None
    explanation = body.explanation or None
    if (reason or explanation) and body.status != "rejected":
        return error_response(400, "invalid_request", gettext("Only a rejection takes a reason or an explanation."))
    if explanation and "\x00" in explanation:
        return error_response(400, "invalid_request", gettext("NUL characters are not accepted."))
    if reason:
        for comment in comments:
            if reason not in (comment.site.reject_reasons or []):
                return error_response(400, "invalid_request",
                                      gettext("“%(reason)s” is not one of the reject reasons of site %(site)s.",
                                              reason=reason, site=comment.site.name))
    # The reason and the explanation travel as reasons, so the site's callback receives them with the decision.
    reasons = ([moderator_reason(reason)] if reason else []) + (
        [explanation_reason(explanation)] if explanation else [])
    changes = []
    services = vigie()
    for comment in comments:
        if comment.status == body.status:
            continue
        changes.append([comment.id, comment.status, body.status])
        record_decision(s, comment, body.status, actor=Actor.moderator.value, actor_name=current_user.username,
                        reasons=reasons, note=explanation or reason, services=services)
    s.commit()
    if changes:
        _push_undo(changes)
    return {"decided": body.ids, "changed": [c[0] for c in changes], "status": body.status,
            "counts": _counts_for(body.query), "can_undo": _can_undo()}


@bp.route("/actions/undo", methods=["POST"])
def undo():
    """Undo this moderator's last action (one comment or one bulk action); comments changed since by someone
    else are left alone."""
    try:
        changes = _pop_undo()
    except RedisError:
        return error_response(503, "undo_unavailable", gettext("Undo is unavailable right now; try again."))
    if not changes:
        return error_response(409, "nothing_to_undo", gettext("There is no action of yours to undo."))
    s = db_session()
    services = vigie()
    undone, skipped = [], []
    for comment_id, status_from, status_to in changes:
        comment = s.get(Comment, comment_id)
        if comment is None or comment.status != status_to or comment.erased_at is not None:
            skipped.append(comment_id)
            continue
        record_decision(s, comment, status_from, actor=Actor.moderator.value, actor_name=current_user.username,
                        action="undo", note=f"undo of {status_to}", services=services)
        undone.append(comment_id)
    s.commit()
    query = (request.get_json(silent=True) or {}).get("query", "")
    return {"undone": undone, "skipped": skipped, "counts": _counts_for(query if isinstance(query, str) else ""),
            "can_undo": _can_undo()}
