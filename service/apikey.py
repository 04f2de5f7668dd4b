"""A site's API key on a request: ``Authorization: Bearer <key>`` (the REST API and the integrations' admin API).
One parser, one error: ``401 unauthorized``."""
from __future__ import annotations

from flask import g, request

from core.keys import site_for_key
from core.storage.models import Site
from service.context import db_session
from service.errors import ApiError


def bearer_key() -> str | None:
    """The key of an ``Authorization: Bearer <key>`` header (scheme case-insensitive), or None without one."""
    scheme, _, key = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not key.strip():
        return None
    return key.strip()


def key_site() -> Site | None:
    """The site owning the request's API key; None when the request sends no key; 401 for a wrong or revoked
    key."""
    if "api_site" not in g:
        key = bearer_key()
        if key is None:
            return None
        site = site_for_key(db_session(), key)
        if site is None:
            raise ApiError(401, "unauthorized", "Invalid or revoked API key.")
        g.api_site = site
    return g.api_site


def current_site() -> Site:
    """The site owning the request's API key; 401 otherwise."""
    site = key_site()
    if site is None:
        raise ApiError(401, "unauthorized", "Missing API key: send 'Authorization: Bearer <key>'.")
    return site
