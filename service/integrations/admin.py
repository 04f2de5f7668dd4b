"""JSON admin API of the integrations: outgoing webhook deliveries (list, show, resend) and the site's signing
secrets (list masked, add or generate, make primary, remove). Authenticated by a site's API key
(``Authorization: Bearer``, scoped to that site) or, for deliveries, a logged-in admin (all sites)::

    GET    /api/v1/webhook-deliveries?state=failed&limit=50&before=<id>
    GET    /api/v1/webhook-deliveries/<id>
    POST   /api/v1/webhook-deliveries/<id>/resend                 # 202, a fresh series of attempts
    GET    /api/v1/signing-secrets                                # masked
    POST   /api/v1/signing-secrets  {"secret": "...", "primary": false}   # 201; no "secret": one is generated
    DELETE /api/v1/signing-secrets/<index>                        # the last secret cannot be removed

All secrets verify incoming signatures (webhooks, Coral); the first ("primary") signs outgoing webhooks.
"""
from __future__ import annotations

from flask import Blueprint, Flask, jsonify, request
from flask_login import current_user

from core.keys import new_signing_secret
from core.storage.models import Site
from core.vocabulary import DELIVERY_STATES
from service.apikey import key_site
from service.context import db_session, vigie
from service.errors import ApiError, parse_json
from service.integrations import deliveries

bp = Blueprint("integrations_admin", __name__)
MAX_SECRETS = 5


def _scope() -> int | None:
    """The site id a request may see (None: all sites, for a logged-in admin), or 401."""
    site = key_site()
    if site is not None:
        return site.id
    if current_user.is_authenticated and getattr(current_user, "is_admin", False):
        return None
    raise ApiError(401, "unauthorized", "send a site API key (Authorization: Bearer ...) or log in as an admin")


# ---------------------------------------------------------------------------------------------- deliveries
@bp.get("/api/v1/webhook-deliveries")
def list_deliveries():
    site_id = _scope()
    state = request.args.get("state") or None
    if state is not None and state not in DELIVERY_STATES:
        raise ApiError(400, "invalid_request", f"state: one of {', '.join(DELIVERY_STATES)}")
    try:
        limit = int(request.args.get("limit", 50))
        before = int(request.args["before"]) if request.args.get("before") else None
    except ValueError:
        raise ApiError(400, "invalid_request", "limit, before: integers expected") from None
    return jsonify({"deliveries": deliveries.list_deliveries(db_session(), site_id, state, limit, before)})


@bp.get("/api/v1/webhook-deliveries/<int:delivery_id>")
def show_delivery(delivery_id: int):
    found = deliveries.get_delivery(db_session(), delivery_id, _scope())
    if found is None:
        raise ApiError(404, "not_found", f"no delivery {delivery_id}")
    return jsonify(found)


@bp.post("/api/v1/webhook-deliveries/<int:delivery_id>/resend")
def resend_delivery(delivery_id: int):
    found = deliveries.resend(db_session(), vigie(), delivery_id, _scope())
    if found is None:
        raise ApiError(404, "not_found", f"no delivery {delivery_id}")
    return jsonify(found), 202


# ------------------------------------------------------------------------------------------ signing secrets
def _secret_site() -> Site:
    site = key_site()
    if site is None:
        raise ApiError(401, "unauthorized", "send the site's API key (Authorization: Bearer ...)")
    return site


def mask(secret: str) -> str:
    return secret[:10] + "…" if len(secret) > 14 else "…"


def _listing(site: Site) -> list[dict]:
    return [{"index": i, "secret": mask(s), "primary": i == 0} for i, s in enumerate(site.signing_secrets or [])]


@bp.get("/api/v1/signing-secrets")
def list_secrets():
    return jsonify({"secrets": _listing(_secret_site())})


@bp.post("/api/v1/signing-secrets")
def add_secret():
    site = _secret_site()
    raw = request.get_data()
    body = parse_json(raw) if raw.strip() else {}
    if not isinstance(body, dict):
        raise ApiError(400, "invalid_json", "body: expected a JSON object")
    secret = body.get("secret")
    if secret is not None and (not isinstance(secret, str) or not 16 <= len(secret) <= 200
                               or not secret.isprintable() or secret != secret.strip()):
        raise ApiError(400, "invalid_request", "secret: 16 to 200 printable characters, no surrounding spaces")
    primary = body.get("primary", False)
    if not isinstance(primary, bool):
        raise ApiError(400, "invalid_request", "primary: true or false")
    secrets = list(site.signing_secrets or [])
    if len(secrets) >= MAX_SECRETS:
        raise ApiError(409, "too_many_secrets", f"at most {MAX_SECRETS} secrets; remove an old one first")
    secret = secret or new_signing_secret()
    if secret not in secrets:
        secrets = [secret] + secrets if primary else secrets + [secret]
    elif primary:
        secrets = [secret] + [s for s in secrets if s != secret]
    site.signing_secrets = secrets
    db_session().commit()
    return jsonify({"secret": secret, "secrets": _listing(site)}), 201


@bp.delete("/api/v1/signing-secrets/<int:index>")
def remove_secret(index: int):
    site = _secret_site()
    secrets = list(site.signing_secrets or [])
    if not 0 <= index < len(secrets):
        raise ApiError(404, "not_found", f"no secret {index}")
    if len(secrets) == 1:
        raise ApiError(409, "last_secret", "a site keeps at least one signing secret")
    del secrets[index]
    site.signing_secrets = secrets
    db_session().commit()
    return jsonify({"secrets": _listing(site)})


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)
