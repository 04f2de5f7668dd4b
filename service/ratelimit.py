"""Rate limits (Flask-Limiter): password guessing on the dashboard's login and requests per API key.

* **Login** (``POST /login``): failed attempts are counted per client address, across usernames (spraying many
  usernames from one address is limited), and per username, across addresses (a botnet guessing one account is
  limited): ``VIGIE_LOGIN_RATE_LIMIT_IP`` and ``VIGIE_LOGIN_RATE_LIMIT_USER``, each ``10 per 15 minutes`` by
  default. Past either limit the login answers 429 (Retry-After) even with the right password. A successful
  login does not count.
* **API keys**: every request authenticated by an API key (REST API v1 ``Authorization: Bearer``, the
  Perspective API's ``?key=`` or ``X-Goog-Api-Key``, the integrations' admin API) counts against that key:
  ``VIGIE_API_RATE_LIMIT``, ``50 per second;1200 per minute`` by default (a batch of up to ``VIGIE_MAX_BATCH``
  comments is one request); ``off`` disables it. Requests without a key count per client address. Past the
  limit: 429 JSON ``too_many_requests`` (Google's ``RESOURCE_EXHAUSTED`` on the Perspective API) with
  ``Retry-After``.

Counters live in Redis (the same server as the queue, keys ``vigie-limits/...``), so every web process shares
them. If Redis cannot be reached the limits do **not** fail open: Flask-Limiter falls back to counting in this
process's memory (per process, so with N gunicorn processes an attacker gets at most N times the limit) and goes
back to Redis when it answers again.

The client address is ``request.remote_addr``: behind a reverse proxy, make the proxy set it (for example
werkzeug's ``ProxyFix``), or every client shares the proxy's address.
"""
from __future__ import annotations

import hashlib

from flask_babel import gettext
from flask import Flask, current_app, request
from flask_limiter import Limiter

from core.connection import redis_url_for
from core.queues import RATE_LIMIT_PREFIX
from core.settings import Settings


def gettext_noop(message: str) -> str:
    """Marks a string for `make translations` (translated where it is shown)."""
    return message


LOGIN_ERROR = gettext_noop("Too many failed attempts: wait 15 minutes.")  # extracted by `make translations`


def _login_error() -> str:
    return gettext(LOGIN_ERROR)  # in the reader's language (the dashboard's catalogue has it)
OFF = ("", "0", "off", "none", "false", "no")


def _digest(value: str) -> str:
    return hashlib.sha256(value.encode("utf-8", "surrogatepass")).hexdigest()[:32]


def client_address() -> str:
    return request.remote_addr or "unknown"


def login_username() -> str:
    """The username tried (folded the way logins compare it), hashed: the key must not store it in clear."""
    username = (request.form.get("username") or "")[:100].strip().lower()
    return "user:" + _digest(username)


def api_key_identity() -> str:
    """The API key a request presents (hashed), or the client address when it presents none."""
    header = request.headers.get("Authorization", "")
    scheme, _, key = header.partition(" ")
    if scheme.lower() != "bearer" or not key.strip():
        key = request.args.get("key") or request.headers.get("X-Goog-Api-Key") or ""
    key = key.strip()
    return "key:" + _digest(key) if key else "addr:" + client_address()


def _settings() -> Settings:
    return current_app.extensions["vigie"].settings


def _api_limit() -> str:
    return _settings().api_rate_limit


def _api_limit_off() -> bool:
    return _settings().api_rate_limit.strip().lower() in OFF


def storage_uri(settings: Settings) -> str:
    """The limits library's URI for the queue's Redis (``redis+unix://`` for the embedded one)."""
    url = redis_url_for(settings)
    return "redis+" + url if url.startswith("unix://") else url


def _failed_login(response) -> bool:
    return response.status_code == 401


def init_app(app: Flask) -> None:
    """Create this app's limiter and attach the limits. Call after every surface is registered."""
    settings: Settings = app.extensions["vigie"].settings
    limiter = Limiter(
        key_func=client_address,
        storage_uri=storage_uri(settings),
        # A hung or dead Redis must not hold a request: short timeouts, then the in-memory fallback.
        storage_options={"socket_connect_timeout": 1, "socket_timeout": 1, "health_check_interval": 30},
        in_memory_fallback_enabled=True,
        swallow_errors=True,  # only reached if the in-memory fallback itself fails; never a 500 for a counter
        headers_enabled=True,  # X-RateLimit-* and, on a 429, Retry-After
        key_prefix=RATE_LIMIT_PREFIX,
        strategy="fixed-window",
    )
    limiter.init_app(app)
    app.extensions["vigie_limiter"] = limiter

    # Login: failures only (deduct_when), per address and per username; the dashboard shows the message.
    login_view = app.view_functions.get("dashboard.login")
    if login_view is not None:
        limited = limiter.limit(lambda: _settings().login_rate_limit_ip, key_func=lambda: "addr:" + client_address(),
                                methods=["POST"], deduct_when=_failed_login, error_message=_login_error)(login_view)
        limited = limiter.limit(lambda: _settings().login_rate_limit_user, key_func=login_username,
                                methods=["POST"], deduct_when=_failed_login, error_message=_login_error)(limited)
        app.view_functions["dashboard.login"] = limited

    # API keys: every blueprint that authenticates with one.
    for name in ("api", "api_reports", "perspective", "integrations_admin"):
        blueprint = app.blueprints.get(name)
        if blueprint is not None:
            # shared: one counter per key across every endpoint of every one of these blueprints
            limiter.shared_limit(_api_limit, scope="api-key", key_func=api_key_identity,
                                 exempt_when=_api_limit_off)(blueprint)
