"""Coral Talk external moderation phase: ``POST /integrations/coral/<site-slug>`` (or ``/integrations/coral``,
where the signature picks the site). Coral sends an ``ExternalModerationRequest`` signed with
``X-Coral-Signature: sha256=<hex>[,...]`` (HMAC-SHA256 of the raw body with one of the site's signing secrets)
and waits for an answer within its timeout. Vigie stores the comment, scores it on a worker and answers ``200``
with an ``ExternalModerationResponse`` (status and flags from the site's policy) or ``204`` (no opinion) when no
worker answered in time; the comment is then queued and decided like any other."""
from __future__ import annotations

import time
from typing import Any

from flask import Blueprint, Flask, Response, jsonify, request
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select

from core import signing
from core.decisions import decide_scored
from core.ingest import CommentIn, check_text, schedule, store
from core.storage.models import Site
from service.context import db_session, vigie
from service.errors import ApiError, parse_json
from service.integrations import sync

bp = Blueprint("coral", __name__)

# Vigie status -> Coral comment status; a site can override it in its policy under "coral_statuses"
# (null: give Coral no status, so it keeps its own pre-moderation decision).
DEFAULT_STATUSES = {"approved": "APPROVED", "flagged": "SYSTEM_WITHHELD", "rejected": "REJECTED"}
CORAL_STATUSES = {"APPROVED", "REJECTED", "PREMOD", "SYSTEM_WITHHELD", "NONE"}
MAX_SITES_SCANNED = 1000


class _Loose(BaseModel):
    model_config = ConfigDict(extra="ignore")  # Coral may add fields in later versions


class CoralComment(_Loose):
    body: str = Field(min_length=1)
    parentID: str | None = Field(None, max_length=200)
    id: str | None = Field(None, max_length=200)


class CoralAuthor(_Loose):
    id: str = Field(max_length=200)
    role: str | None = Field(None, max_length=40)


class CoralStory(_Loose):
    id: str = Field(max_length=200)
    url: str | None = Field(None, max_length=2000)


class CoralSite(_Loose):
    id: str = Field(max_length=200)


class ExternalModerationRequest(_Loose):
    action: str = Field(pattern=r"^(NEW|EDIT)$")
    comment: CoralComment
    author: CoralAuthor
    story: CoralStory
    site: CoralSite | None = None
    tenantID: str | None = Field(None, max_length=200)
    tenantDomain: str | None = Field(None, max_length=300)


def _site_by_slug(slug: str) -> Site:
    site = db_session().scalar(select(Site).where(Site.slug == slug))
    if site is None:
        raise ApiError(404, "not_found", f"no site {slug[:64]!r}")
    return site


def _verify(site: Site | None, body: bytes) -> Site:
    """The signing site; 401 unless one of its secrets signed the body."""
    header = request.headers.get(signing.CORAL_HEADER)
    candidates = [site] if site is not None else list(
        db_session().scalars(select(Site).order_by(Site.id).limit(MAX_SITES_SCANNED)))
    for candidate in candidates:
        try:
            signing.verify_coral(header, body, candidate.signing_secrets or [])
            return candidate
        except signing.SignatureError as exc:
            error = exc
    message = str(error) if candidates else "signature does not match"
    raise ApiError(401, "invalid_signature", message)


def coral_response(site: Site, status: str, reasons: list[dict[str, Any]]) -> dict[str, Any]:
    """The ExternalModerationResponse for a Vigie decision."""
    statuses = {**DEFAULT_STATUSES, **((site.policy or {}).get("coral_statuses") or {})}
    actions = []
    if status != "approved":
        lists = {r.get("list") for r in reasons if r.get("kind") == "word"}
        if "banned" in lists:
            actions.append({"actionType": "FLAG", "reason": "COMMENT_DETECTED_BANNED_WORD"})
        if "suspect" in lists:
            actions.append({"actionType": "FLAG", "reason": "COMMENT_DETECTED_SUSPECT_WORD"})
        if any(r.get("kind") == "score" for r in reasons) or not actions:
            actions.append({"actionType": "FLAG", "reason": "COMMENT_DETECTED_TOXIC"})
    body: dict[str, Any] = {"actions": actions}
    coral_status = statuses.get(status)
    if coral_status in CORAL_STATUSES:
        body["status"] = coral_status
    return body


def _moderate(site: Site | None):
    started = time.perf_counter()
    raw = request.get_data(cache=False)
    site = _verify(site, raw)
    req = parse_json(raw, ExternalModerationRequest)
    settings = vigie().settings
    text = req.comment.body
    if len(text) > settings.max_text_chars:
        raise ApiError(400, "invalid_request", f"comment.body: longer than {settings.max_text_chars} characters")
    if check_text(text) is not None:
        raise ApiError(400, "invalid_request", "comment.body: empty or holds NUL / unpaired surrogates")
    session = db_session()
    # An edit is a new text to moderate: only a new comment's id (if Coral sends one) makes retries idempotent.
    external_id = req.comment.id if req.action == "NEW" else None
    item = CommentIn(text=text, external_id=external_id, author_id=req.author.id, thread_id=req.story.id,
                     thread_url=req.story.url, parent_id=req.comment.parentID)
    comment, created = store(session, site, [item], source="coral")[0]
    if not created and comment.status != "pending":  # Coral retried a comment Vigie already decided
        return jsonify(coral_response(site, comment.status, []))
    services = vigie()
    budget_ms = settings.coral_timeout_ms - int((time.perf_counter() - started) * 1000)
    try:
        if budget_ms <= 0:
            raise sync.SyncUnavailable("no time left")
        result = sync.score(services.redis, [text], budget_ms)
    except sync.SyncUnavailable:
        schedule(services, [comment.id])  # decided later by the queue; Coral keeps its own decision for now
        return Response(status=204)
    decision = decide_scored(session, site, comment, result.scores[0], result.model, result.version,
                             result.threshold, (time.perf_counter() - started) * 1000, services)
    return jsonify(coral_response(site, decision.status, decision.reasons))


@bp.post("/integrations/coral")
def moderate_any_site():
    return _moderate(None)


@bp.post("/integrations/coral/<slug>")
def moderate(slug: str):
    return _moderate(_site_by_slug(slug))


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)
