"""Generic signed webhook for any comment system: ``POST /webhooks/<site-slug>``.

The body is one comment in the REST API's shape (``core.ingest.CommentIn``: ``text``, ``external_id``,
``author_id``, ``author_name``, ``thread_id``, ``thread_url``, ``parent_id``, ``language``), signed with
``X-Vigie-Signature: t=<unix time>,v1=<hex HMAC-SHA256 of "t.body">`` (see ``signing``). A stale timestamp, a
wrong signature or a replayed request (same timestamp and signature seen in the last 5 minutes) is refused with
401 and nothing is stored. Otherwise the comment is stored (idempotent on ``external_id``), queued, and the
answer is 202 like the REST API's.

A body with ``"event": "report"`` is a reader's report instead (``core.reports``): ``external_id`` (the reported
comment's id in the comment system) or ``comment_id`` (Vigie's), ``reporter_id``, ``reason`` and optionally
``text``; answered 201 (recorded) or 200 (this reader had already reported it), 404 for an unknown comment.
``"event": "comment"`` (or no ``event``) is a comment."""
from __future__ import annotations

import json
from typing import Annotated, Literal

from flask import Blueprint, Flask, jsonify, request
from pydantic import AfterValidator, Field, StringConstraints
from sqlalchemy import select

from core import reports, signing
from core.inputlimits import MAX_ROW_ID, no_nul
from core.decisions import report_comment
from core.ingest import CommentIn, check_text, schedule, store
from core.storage.models import Comment, Site
from service.context import db_session, vigie
from service.errors import ApiError, parse_json

bp = Blueprint("webhooks_in", __name__)


def _verified_site(slug: str, body: bytes) -> Site:
    site = db_session().scalar(select(Site).where(Site.slug == slug))
    if site is None:
        raise ApiError(404, "not_found", f"no site {slug[:64]!r}")
    try:
        timestamp, signature = signing.verify_vigie(request.headers.get(signing.VIGIE_HEADER), body,
                                                    site.signing_secrets or [])
    except signing.SignatureError as exc:
        raise ApiError(401, "invalid_signature", str(exc)) from None
    try:
        fresh = signing.remember(vigie().redis, site.id, timestamp, signature)
    except Exception:  # without Redis a replay cannot be told apart: refuse, the sender will retry
        raise ApiError(503, "unavailable", "cannot check for replays right now; retry later") from None
    if not fresh:
        raise ApiError(401, "replayed_request", "this signature was already used; sign each request anew")
    return site


class ReportEvent(reports.ReportIn):
    """A reader's report sent through the signed webhook."""

    event: Literal["report"]
    external_id: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200),
                           AfterValidator(no_nul)] | None = None
    comment_id: Annotated[int, Field(gt=0, le=MAX_ROW_ID)] | None = None


def _event(body: bytes) -> str | None:
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError, RecursionError):
        return None  # parse_json answers the 400
    return data.get("event") if isinstance(data, dict) and isinstance(data.get("event"), str) else None


def _receive_report(site: Site, body: bytes):
    event = parse_json(body, ReportEvent)
    if (event.external_id is None) == (event.comment_id is None):
        raise ApiError(400, "invalid_request", "report: send either external_id or comment_id", field="external_id")
    session = db_session()
    where = (Comment.external_id == event.external_id if event.external_id is not None
             else Comment.id == event.comment_id)
    comment = session.scalar(select(Comment).where(Comment.site_id == site.id, where))
    if comment is None:
        raise ApiError(404, "not_found", "no comment with this id for this site")
    outcome = report_comment(session, comment, event, source="webhook", services=vigie())
    return jsonify({"created": outcome.created, "report_id": outcome.report.id, "comment_id": comment.id,
                    "status": comment.status, "report_count": comment.report_count,
                    "flagged_by_reports": outcome.flagged}), (201 if outcome.created else 200)


@bp.post("/webhooks/<slug>")
def receive(slug: str):
    body = request.get_data(cache=False)
    site = _verified_site(slug, body)
    event = _event(body)
    if event == "report":
        return _receive_report(site, body)
    if event not in (None, "comment"):
        raise ApiError(400, "invalid_request", "event: must be \"comment\" or \"report\"", field="event")
    if event == "comment":
        data = json.loads(body)
        data.pop("event")
        body = json.dumps(data).encode()
    item = parse_json(body, CommentIn)
    problem = check_text(item.text, vigie().settings.max_text_chars)
    if problem:
        raise ApiError(400, "invalid_request", problem)
    comment, created = store(db_session(), site, [item], source="webhook")[0]
    if created:
        schedule(vigie(), [comment.id])
    return jsonify({"id": comment.id, "external_id": comment.external_id, "status": comment.status,
                    "created": created}), 202


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)
