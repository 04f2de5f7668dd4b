"""The Flask application factory."""
from __future__ import annotations

import logging
from typing import Any

from flask import Flask

from core import services as core_services
from core.settings import Settings
from service import (api, api_reports, context, dashboard, errors, health, inputguard, logredact, metrics, ratelimit,
                     security)
from service.integrations import admin, coral, perspective, webhooks_in

# One blueprint (or group) per surface; each module exposes init_app(app).
SURFACES = (security, health, metrics, api, api_reports, dashboard, perspective, coral, webhooks_in, admin)


def create_app(config: Settings | dict[str, Any] | None = None) -> Flask:
    settings = config if isinstance(config, Settings) else Settings(**(config or {}))
    logging.basicConfig(level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logredact.install()  # the development server's request log: no ?key=vg_... in it
    app = Flask(__name__, static_folder=None)
    app.config.update(
        SECRET_KEY=settings.resolved_secret_key(),
        MAX_CONTENT_LENGTH=settings.max_body_bytes,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=settings.session_cookie_secure,
        JSON_SORT_KEYS=False,
    )
    app.json.ensure_ascii = False
    app.json.sort_keys = False
    settings.ensure_data_dir()
    context.init_app(app, core_services.build(settings))
    errors.init_app(app)
    inputguard.init_app(app)  # bounded <int:> ids, NUL refused in URLs, too-deep JSON a 400 (before the routes)
    for surface in SURFACES:
        surface.init_app(app)
    ratelimit.init_app(app)  # after the surfaces: it limits their views and blueprints
    return app
