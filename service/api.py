"""REST API v1 (JSON; one API key per site in ``Authorization: Bearer <key>``).

    POST /api/v1/comments                   one comment, or {"comments": [...]} (up to VIGIE_MAX_BATCH) -> 202
    GET  /api/v1/comments/<id>              status, decision, every label's score, model, reasons
    GET  /api/v1/comments?status=&since=&cursor=&limit=   the site's comments, oldest first, cursor on id
    POST /api/v1/comments/<id>/decision     moderator override: {"decision": "approve"|"reject", "note", ...}
    POST /api/v1/comments/<id>/reports      a reader's report {"reason", "reporter_id", "text"} (service.api_reports)
    DELETE /api/v1/comments/<id>            erase its text and author (GDPR art. 17; a tombstone stays)
    DELETE /api/v1/authors/<author_id>      erase every comment of that author on the site (core/erasure.py)
    GET  /api/v1/authors/<author id>        an author's standing (ban, suspension, pre-moderation), counts, actions

Every error is ``{"error": {"code", "message"}}`` with a 4xx status (service/errors.py). A site only ever sees its
own comments (another site's id is a 404). No CSRF here: API calls carry a key, not a cookie.
"""
from __future__ import annotations

import time
from datetime import datetime, timezone
from typing import Annotated, Any, Literal

from flask import Blueprint, Flask, Response, jsonify, request, url_for
from pydantic import AfterValidator, BaseModel, ConfigDict, StringConstraints
from sqlalchemy import func, select
from sqlalchemy.orm import Session, selectinload

from core import authors, erasure, ingest
from core.decisions import record_decision
from core.inputlimits import MAX_ROW_ID, no_nul
from core.storage.models import AuditEntry, Comment
from core.vocabulary import STATUSES, Actor, moderator_reason
from service.apikey import current_site
from service.context import db_session, vigie
from service.errors import ApiError, parse_json, validate

bp = Blueprint("api", __name__, url_prefix="/api/v1")

MAX_PAGE = 200
DEFAULT_PAGE = 50


# ----------------------------------------------------------------------------------------------- helpers
def json_body(model: type[BaseModel] | None = None) -> Any:
    """The request's JSON body (validated against ``model`` if given): 415 if it is not declared as JSON, 400 if
    it does not parse."""
    if request.mimetype != "application/json":
        raise ApiError(415, "unsupported_media_type", "Send the body as JSON with 'Content-Type: application/json'.")
    return parse_json(request.get_data(cache=True), model)  # over VIGIE_MAX_BODY_BYTES -> 413 before we get here


def iso(value: datetime | None) -> str | None:
    if value is None:
        return None
    if value.tzinfo is None:  # SQLite returns naive datetimes; they are stored as UTC
        value = value.replace(tzinfo=timezone.utc)
    return value.isoformat()


def comment_url(comment_id: int) -> str:
    return url_for("api.get_comment", comment_id=comment_id)


def latest_reasons(session: Session, comment_ids: list[int]) -> dict[int, AuditEntry]:
    """The latest audit entry that set a status (the current decision) of each comment: an erasure entry has
    none."""
    if not comment_ids:
        return {}
    latest = (select(func.max(AuditEntry.id)).where(AuditEntry.comment_id.in_(comment_ids),
                                                    AuditEntry.status_to.is_not(None))
              .group_by(AuditEntry.comment_id))
    entries = session.scalars(select(AuditEntry).where(AuditEntry.id.in_(latest)))
    return {e.comment_id: e for e in entries}


def comment_json(comment: Comment, entry: AuditEntry | None) -> dict[str, Any]:
    result = comment.result
    decided = comment.status != "pending"
    return {
        "id": comment.id,
        "external_id": comment.external_id,
        "url": comment_url(comment.id),
        "status": comment.status,
        "text": comment.text,
        "author_id": comment.author_id,
        "author_name": comment.author_name,
        "thread_id": comment.thread_id,
        "thread_url": comment.thread_url,
        "parent_id": comment.parent_id,
        "language": comment.language,
        "source": comment.source,
        "received_at": iso(comment.received_at),
        "decision": {
            "status": comment.status,
            "decided_by": comment.decided_by,
            "actor_name": entry.actor_name if entry else None,
            "decided_at": iso(comment.decided_at),
            "reasons": entry.reasons if entry else [],
            "note": entry.note if entry else None,
        } if decided else None,
        "scores": dict(result.scores) if result else None,
        "model": {"name": result.model_name, "version": result.model_version,
                  "latency_ms": round(result.latency_ms, 2)} if result else None,
        "spans": result.spans if result else None,
        "erased_at": iso(comment.erased_at),
    }


# ------------------------------------------------------------------------------------------------ ingest
def _items(data: Any) -> tuple[list[ingest.CommentIn], bool]:
    settings = vigie().settings
    if isinstance(data, dict) and "comments" in data:
        extra = sorted(set(data) - {"comments"})
        if extra:
            raise ApiError(400, "unknown_field", f"{extra[0]}: unknown field next to 'comments'", field=extra[0])
        batch = data["comments"]
        if not isinstance(batch, list) or not batch:
            raise ApiError(400, "invalid_request", "comments: expected a non-empty list of comments")
        if len(batch) > settings.max_batch:
            raise ApiError(400, "batch_too_large",
                           f"comments: at most {settings.max_batch} comments per request ({len(batch)} sent)")
        items = [validate(ingest.CommentIn, item, where=f"comments.{i}.") for i, item in enumerate(batch)]
        prefixes = [f"comments.{i}." for i in range(len(items))]
        is_batch = True
    else:
        items, prefixes, is_batch = [validate(ingest.CommentIn, data)], [""], False
    for item, prefix in zip(items, prefixes):
        problem = ingest.check_text(item.text, settings.max_text_chars)
        if problem:
            code = "text_too_long" if len(item.text) > settings.max_text_chars else "invalid_request"
            raise ApiError(400, code, prefix + problem, field=prefix + "text")
    return items, is_batch


@bp.post("/comments")
def post_comments() -> tuple[Response, int]:
    """Accept comments: stored as pending (committed) before they are queued; 202 with ids and status URLs.
    A retry with the same external_id returns the existing comment (``created: false``), never a duplicate."""
    site = current_site()
    items, is_batch = _items(json_body())
    session = db_session()
    stored = ingest.store(session, site, items, source="api")
    new_ids = [c.id for c, created in stored if created and c.status == "pending"]
    queued = ingest.schedule(vigie(), new_ids) if new_ids else True
    out = [{"id": c.id, "external_id": c.external_id, "status": c.status, "created": created,
            "url": comment_url(c.id)} for c, created in stored]
    body: dict[str, Any] = {"comments": out} if is_batch else out[0]
    if not queued:
        body["queued"] = False  # stored; the reconciler schedules it once Redis is back
    return jsonify(body), 202


# ----------------------------------------------------------------------------------------------- reading
def _own_comment(session: Session, comment_id: int) -> Comment:
    site = current_site()
    comment = session.scalar(select(Comment).where(Comment.id == comment_id, Comment.site_id == site.id)
                             .options(selectinload(Comment.result)))
    if comment is None:
        raise ApiError(404, "not_found", f"No comment {comment_id} for this site.")
    return comment


MAX_WAIT_S = 10.0  # longest ``?wait=`` on GET /comments/<id>: a waiting request holds one web thread


def _wait_arg() -> float:
    raw = request.args.get("wait")
    if raw is None or raw == "":
        return 0.0
    try:
        value = float(raw)
    except ValueError:
        raise ApiError(400, "invalid_request", "wait: expected a number of seconds") from None
    if not 0 <= value <= MAX_WAIT_S:  # NaN fails too
        raise ApiError(400, "invalid_request", f"wait: must be between 0 and {MAX_WAIT_S:g} seconds")
    return value


@bp.get("/comments/<int:comment_id>")
def get_comment(comment_id: int) -> Response:
    """The comment. ``?wait=<seconds>`` (at most 10): while it is still pending, answer once it is decided or when
    the wait ends, whichever comes first (then still ``pending``)."""
    wait = _wait_arg()
    session = db_session()
    comment = _own_comment(session, comment_id)
    deadline = time.monotonic() + wait
    pause = 0.02
    while comment.status == "pending" and time.monotonic() < deadline:
        session.rollback()  # a GET writes nothing: end the read transaction (freeing its connection) so that
        # the next read sees the worker's commit
        time.sleep(max(0.0, min(pause, deadline - time.monotonic())))
        pause = min(pause * 2, 0.25)
        session.expire_all()
        comment = _own_comment(session, comment_id)
    return jsonify(comment_json(comment, latest_reasons(session, [comment.id]).get(comment.id)))


def _int_arg(name: str, default: int | None, low: int, high: int | None = None) -> int | None:
    raw = request.args.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ApiError(400, "invalid_request", f"{name}: expected an integer") from None
    if value < low or (high is not None and value > high):
        raise ApiError(400, "invalid_request", f"{name}: must be between {low} and {high}" if high is not None
                       else f"{name}: must be at least {low}")
    return value


@bp.get("/comments")
def list_comments() -> Response:
    """The site's comments in id order. ``cursor`` is the last id seen (``next_cursor`` of the previous page)."""
    known = {"status", "since", "cursor", "limit"}
    unknown = sorted(set(request.args) - known)
    if unknown:
        raise ApiError(400, "unknown_field", f"{unknown[0]}: unknown query parameter", field=unknown[0])
    site = current_site()
    limit = _int_arg("limit", DEFAULT_PAGE, 1, MAX_PAGE)
    cursor = _int_arg("cursor", 0, 0, MAX_ROW_ID)
    stmt = select(Comment).where(Comment.site_id == site.id, Comment.id > cursor)
    status = request.args.get("status")
    if status:
        if status not in STATUSES:
            raise ApiError(400, "invalid_request", f"status: must be one of {', '.join(STATUSES)}")
        stmt = stmt.where(Comment.status == status)
    since = request.args.get("since")
    if since:
        try:
            moment = datetime.fromisoformat(since.replace("Z", "+00:00").replace(" ", "+"))
        except ValueError:
            raise ApiError(400, "invalid_request", "since: expected an ISO 8601 date-time") from None
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=timezone.utc)
        stmt = stmt.where(Comment.received_at >= moment)
    session = db_session()
    comments = list(session.scalars(stmt.options(selectinload(Comment.result)).order_by(Comment.id).limit(limit + 1)))
    more = len(comments) > limit
    comments = comments[:limit]
    entries = latest_reasons(session, [c.id for c in comments])
    return jsonify({"comments": [comment_json(c, entries.get(c.id)) for c in comments],
                    "next_cursor": comments[-1].id if more else None})


# -------------------------------------------------------------------------------------------- overrides
class DecisionIn(BaseModel):
    """A moderator's decision on one comment."""

    model_config = ConfigDict(extra="forbid")

    decision: Literal["approve", "reject", "approved", "rejected"]
    note: Annotated[str, StringConstraints(max_length=2000), AfterValidator(no_nul)] | None = None
    reason: Annotated[str, StringConstraints(max_length=200), AfterValidator(no_nul)] | None = None
    moderator: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200),
                         AfterValidator(no_nul)] | None = None


@bp.post("/comments/<int:comment_id>/decision")
def post_decision(comment_id: int) -> Response:
    site = current_site()
    body = json_body(DecisionIn)
    session = db_session()
    comment = _own_comment(session, comment_id)
    status = "approved" if body.decision.startswith("approve") else "rejected"
    reasons = [moderator_reason(body.reason)] if body.reason else []
    record_decision(session, comment, status, actor=Actor.moderator.value, actor_name=body.moderator or site.slug,
                    reasons=reasons, note=body.note, services=vigie())
    session.commit()
    return jsonify(comment_json(comment, latest_reasons(session, [comment.id]).get(comment.id)))


# ----------------------------------------------------------------------------------------------- authors
@bp.get("/authors/<path:author_id>")
def get_author(author_id: str) -> Response:
    """The author (their id as the site sends it with comments): current standing, comments per status, recent
    actions (core/authors.py). An author Vigie has never seen on this site is a 404."""
    site = current_site()
    if len(author_id) > 200:
        raise ApiError(400, "invalid_request", "author id: at most 200 characters")
    found = authors.summary(db_session(), site.id, author_id)
    if not found.known:
        raise ApiError(404, "not_found", f"No author {author_id!r} for this site.")
    return jsonify(authors.summary_json(site.slug, found))


# ---------------------------------------------------------------------------------------------- erasure
def _api_actor(site) -> tuple[str, str]:
    return Actor.admin.value, f"api:{site.slug}"


@bp.delete("/comments/<int:comment_id>")
def delete_comment(comment_id: int) -> Response:
    """Erase one comment's text, original text, author and spans (a tombstone with its scores and decision
    stays; docs/operations.md says exactly what). Idempotent: erasing it again answers the same."""
    site = current_site()
    actor, name = _api_actor(site)
    report = erasure.erase_comment(vigie(), db_session(), site.id, comment_id, actor, name)
    if report is None:
        raise ApiError(404, "not_found", f"No comment {comment_id} for this site.")
    return jsonify({"id": comment_id, "erased": True, **report.as_dict()})


MAX_AUTHOR_ID = 200


@bp.delete("/authors/<path:author_id>")  # an author id may hold a slash
def delete_author(author_id: str) -> Response:
    """Erase every comment the author wrote on this site (and the author's other data). Answers how many."""
    site = current_site()
    if len(author_id) > MAX_AUTHOR_ID or not author_id.strip():
        raise ApiError(400, "invalid_request", f"author_id: 1 to {MAX_AUTHOR_ID} characters")
    actor, name = _api_actor(site)
    report = erasure.erase_author(vigie(), db_session(), site.id, author_id, actor, name)
    return jsonify({"author_id": author_id, "erased": True, **report.as_dict()})


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)
