"""Generic signed webhook for any comment system: ``POST /webhooks/<site-slug>``.

The body is one comment in the REST API's shape (``core.ingest.CommentIn``: ``text``, ``external_id``,
``author_id``, ``author_name``, ``thread_id``, ``thread_url``, ``parent_id``, ``language``), signed with
``X-Vigie-Signature: t=<unix time>,v1=<hex HMAC-SHA256 of "t.body">`` (see ``signing``). A stale timestamp, a
wrong signature or a replayed request (same timestamp and signature seen in the last 5 minutes) is refused with
401 and nothing is stored. Otherwise the comment is stored (idempotent on ``external_id``), queued, and the
answer is 202 like the REST API's."""
from __future__ import annotations

from flask import Blueprint, Flask, jsonify, request
from sqlalchemy import select

from core import signing
from core.ingest import CommentIn, check_text, schedule, store
from core.storage.models import Site
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


@bp.post("/webhooks/<slug>")
def receive(slug: str):
    body = request.get_data(cache=False)
    site = _verified_site(slug, body)
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
