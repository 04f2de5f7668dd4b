"""Coral Talk external moderation phase: ``POST /integrations/coral/<site-slug>`` (or ``/integrations/coral``,
where the signature picks the site). Coral sends an ``ExternalModerationRequest`` signed with
``X-Coral-Signature: sha256=<hex>[,...]`` (HMAC-SHA256 of the raw body with one of the site's signing secrets)
and waits for an answer within its timeout. Vigie stores the comment, scores it on a worker and answers ``200``
with an ``ExternalModerationResponse`` (status and flags from the site's policy) or ``204`` (no opinion) when no
worker answered in time; the comment is then queued and decided like any other.

Calls are rate-limited per site (``VIGIE_CORAL_RATE_LIMIT``, service/ratelimit.py): ``rate_limit_key`` names the
site whose secret signed the body, or the client address when none did, so unsigned calls cannot spend a site's
allowance. The signature is checked once per request (``verified_site`` keeps the answer in ``flask.g``)."""
from __future__ import annotations

import hashlib
import json
import time
from datetime import timezone
from typing import Annotated, Any

from flask import Blueprint, Flask, Response, g, jsonify, request
from pydantic import AfterValidator, BaseModel, ConfigDict, Field
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from core import signing
from core.articles import MAX_TITLE
from core.decisions import decide_scored
from core.ingest import CommentIn, check_text, schedule, store
from core.inputlimits import no_nul
from core.storage.models import Comment, Site
from service.context import db_session, vigie
from service.errors import ApiError, parse_json
from service.integrations import sync
from service.integrations.html_text import html_to_text

bp = Blueprint("coral", __name__)

# Vigie status -> Coral comment status; a site can override it in its policy under "coral_statuses"
# (null: give Coral no status, so it keeps its own pre-moderation decision).
DEFAULT_STATUSES = {"approved": "APPROVED", "flagged": "SYSTEM_WITHHELD", "rejected": "REJECTED"}
CORAL_STATUSES = {"APPROVED", "REJECTED", "PREMOD", "SYSTEM_WITHHELD", "NONE"}
MAX_SITES_SCANNED = 1000


class _Loose(BaseModel):
    model_config = ConfigDict(extra="ignore")  # Coral may add fields in later versions


# Strings Vigie stores or looks up (PostgreSQL can neither store nor compare NUL characters).
Stored = Annotated[str, AfterValidator(no_nul)]


class CoralComment(_Loose):
    body: str = Field(min_length=1)
    parentID: Stored | None = Field(None, max_length=200)
    # Coral does not send it; honoured if a proxy adds one (stored as "coral:<id>": within external_id's 200)
    id: Stored | None = Field(None, max_length=190)


class CoralAuthor(_Loose):
    id: Stored = Field(max_length=200)
    role: str | None = Field(None, max_length=40)


class CoralStoryMetadata(_Loose):
    title: str | None = Field(None, max_length=2000)


class CoralStory(_Loose):
    """Coral's external moderation request carries the story's id and URL; its title is not in it (Coral keeps it
    in ``story.metadata.title``), so a title is taken if a proxy adds ``title`` or ``metadata.title``."""
    id: Stored = Field(max_length=200)
    url: Stored | None = Field(None, max_length=2000)
    title: str | None = Field(None, max_length=2000)
    metadata: CoralStoryMetadata | None = None

    def story_title(self) -> str | None:
        title = self.title or (self.metadata.title if self.metadata else None)
        return title.strip()[:MAX_TITLE] if title and "\x00" not in title else None


class CoralSite(_Loose):
    id: str = Field(max_length=200)


class CoralTenant(_Loose):
    id: str | None = Field(None, max_length=200)
    domain: str | None = Field(None, max_length=300)


class ExternalModerationRequest(_Loose):
    """What Coral sends (external.ts, ExternalModerationRequest): no comment id, and the body as HTML or plain
    text depending on the phase's format setting. Coral v6 sent ``tenant: {id, domain}``, later versions
    ``tenantID`` and ``tenantDomain``."""
    action: str = Field(pattern=r"^(NEW|EDIT)$")
    comment: CoralComment
    author: CoralAuthor
    story: CoralStory
    site: CoralSite | None = None
    tenantID: str | None = Field(None, max_length=200)
    tenantDomain: str | None = Field(None, max_length=300)
    tenant: CoralTenant | None = None


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


# What Coral's external-moderation response schema accepts (coralproject/talk,
# src/core/server/services/comments/pipeline/phases/external.ts, ExternalModerationResponseSchema): an answer with
# any other action reason, status or tag fails Coral's validation and Coral drops the whole answer.
# tests/node/coral_response_schema.js reproduces that schema with the real `joi` package as a contract test.
CORAL_ACTION_REASONS = ("COMMENT_DETECTED_TOXIC", "COMMENT_DETECTED_SPAM")


def coral_response(site: Site, status: str, reasons: list[dict[str, Any]]) -> dict[str, Any]:
    """The ExternalModerationResponse for a Vigie decision. Coral takes only two flag reasons, so every
    non-approved decision (a score over a threshold or a word-list hit) is one ``COMMENT_DETECTED_TOXIC`` flag;
    Vigie keeps its own detailed reasons (which label, which word) in the comment's decision and audit log."""
    overrides = (site.policy or {}).get("coral_statuses") if isinstance(site.policy, dict) else None
    statuses = {**DEFAULT_STATUSES, **(overrides if isinstance(overrides, dict) else {})}
    actions = []
    if status not in ("approved", "pending"):
        actions.append({"actionType": "FLAG", "reason": CORAL_ACTION_REASONS[0]})
    body: dict[str, Any] = {"actions": actions}
    coral_status = statuses.get(status)
    if isinstance(coral_status, str) and coral_status in CORAL_STATUSES:
        body["status"] = coral_status
    return body


def content_key(req: ExternalModerationRequest) -> str:
    """What identifies one Coral comment when Coral sends no id: who wrote what, where, in reply to what."""
    tenant = req.tenantID or (req.tenant.id if req.tenant else None)
    fields = [req.action, tenant, req.site.id if req.site else None, req.story.id, req.author.id,
              req.comment.parentID, req.comment.body]
    return hashlib.sha256(json.dumps(fields, ensure_ascii=False).encode("utf-8", "surrogatepass")).hexdigest()[:40]


def _external_ids(req: ExternalModerationRequest, now: float, window_s: int) -> list[str]:
    """The external id to store a new comment under, then the one an earlier identical request in the replay window
    may have used. With Coral's own comment id (sent by a proxy) a NEW comment is keyed by it for good."""
    if req.comment.id and req.action == "NEW":
        return [f"coral:{req.comment.id}"]
    bucket = int(now // window_s)
    key = content_key(req)
    return [f"coral:{key}:{bucket}", f"coral:{key}:{bucket - 1}"]


def _replayed(session, site: Site, external_ids: list[str], now: float, window_s: int) -> Comment | None:
    """The comment an identical request stored within the replay window, if any."""
    rows = session.scalars(select(Comment).where(Comment.site_id == site.id,
                                                 Comment.external_id.in_(external_ids))).all()
    for comment in sorted(rows, key=lambda c: c.id, reverse=True):
        received = comment.received_at
        if received.tzinfo is None:
            received = received.replace(tzinfo=timezone.utc)
        if len(external_ids) == 1 or now - received.timestamp() <= window_s:
            return comment
    return None


def _answer_for(site: Site, comment: Comment):
    """Coral's answer for a comment Vigie already decided (a retry, a replay, a concurrent twin)."""
    if comment.status == "pending":
        return Response(status=204)
    return jsonify(coral_response(site, comment.status, []))


def verified_site() -> Site:
    """The site whose signing secret signed this request (the URL's site, or any site without a slug in the URL):
    404 for an unknown slug, 401 for a bad signature. Checked once per request."""
    if "coral_site" not in g:
        slug = (request.view_args or {}).get("slug")
        try:
            g.coral_site = _verify(_site_by_slug(slug) if slug is not None else None, request.get_data(cache=True))
        except ApiError as exc:
            g.coral_site = exc
    if isinstance(g.coral_site, ApiError):
        raise g.coral_site
    return g.coral_site


def rate_limit_key() -> str:
    """Flask-Limiter's key for a Coral call: the signing site, else the client's address. Never raises."""
    try:
        return f"site:{verified_site().id}"
    except Exception:  # unsigned, unknown slug, database down: counted per address; the view answers the error
        return "addr:" + (request.remote_addr or "unknown")


def _moderate():
    started = time.perf_counter()
    site = verified_site()
    raw = request.get_data(cache=True)
    req = parse_json(raw, ExternalModerationRequest)
    settings = vigie().settings
    body = req.comment.body
    if len(body) > settings.max_text_chars:
        raise ApiError(400, "invalid_request", f"comment.body: longer than {settings.max_text_chars} characters")
    if check_text(body) is not None:
        raise ApiError(400, "invalid_request", "comment.body: empty or holds NUL / unpaired surrogates")
    text = html_to_text(body)  # Coral's default body format is HTML: score what readers see
    if not text.strip():
        raise ApiError(400, "invalid_request", "comment.body: no text once HTML markup is removed")
    session = db_session()
    now = time.time()
    window_s = settings.coral_replay_window_s
    external_ids = _external_ids(req, now, window_s)
    comment = _replayed(session, site, external_ids, now, window_s)
    created = False
    if comment is None:
        item = CommentIn(text=text, external_id=external_ids[0], author_id=req.author.id, thread_id=req.story.id,
                         thread_url=req.story.url, thread_title=req.story.story_title(),
                         parent_id=req.comment.parentID)
        comment, created = store(session, site, [item], source="coral",
                                 original_texts=[body if body != text else None])[0]
    if not created and comment.status != "pending":  # Coral retried or replayed a comment Vigie already decided
        return _answer_for(site, comment)
    services = vigie()
    budget_ms = settings.coral_timeout_ms - int((time.perf_counter() - started) * 1000)
    try:
        if budget_ms <= 0:
            raise sync.SyncUnavailable("no time left")
        result = sync.score(services.redis, [text], budget_ms, site_id=site.id)
    except sync.SyncUnavailable:
        schedule(services, [comment.id])  # decided later by the queue; Coral keeps its own decision for now
        return Response(status=204)
    comment_id = comment.id
    try:
        decision = decide_scored(session, site, comment, result.scores[0], result.model, result.version,
                                 result.threshold, (time.perf_counter() - started) * 1000, services)
    except IntegrityError:  # a concurrent twin of this request (or a worker) decided it first
        session.rollback()
        comment = session.get(Comment, comment_id)
        session.refresh(comment)
        return _answer_for(site, comment)
    return jsonify(coral_response(site, decision.status, decision.reasons))


@bp.post("/integrations/coral")
def moderate_any_site():
    return _moderate()


@bp.post("/integrations/coral/<slug>")
def moderate(slug: str):  # noqa: ARG001 (verified_site reads the slug)
    return _moderate()


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)
