"""The moderator dashboard, mounted at ``/``: login, moderation queues, audit log, statistics and (for admins)
sites, users, API keys and site settings. Every page needs a login; every form and action is CSRF-protected;
every asset is served from ``static/`` (no CDN)."""
from __future__ import annotations

from pathlib import Path

from flask import Blueprint, Flask, abort, redirect, request, url_for
from flask_login import current_user

from service.security import csrf

HERE = Path(__file__).parent
bp = Blueprint("dashboard", __name__, template_folder=str(HERE / "templates"), static_folder=str(HERE / "static"),
               static_url_path="/static")

PUBLIC_ENDPOINTS = {"dashboard.login", "dashboard.static"}


@bp.before_request
def _guard():
    if request.endpoint == "dashboard.static":
        return None
    csrf.protect()  # every non-GET request of the dashboard carries the session's token
    if request.endpoint in PUBLIC_ENDPOINTS:
        return None
    if not current_user.is_authenticated:
        if request.accept_mimetypes.best == "application/json" or request.is_json:
            abort(401)
        return redirect(url_for("dashboard.login", next=request.full_path.rstrip("?")))
    if request.endpoint and request.endpoint.startswith("dashboard.admin_") and not current_user.is_admin:
        abort(403)
    return None


def init_app(app: Flask) -> None:
    from service.dashboard import admin, audit, auth, queue, stats  # noqa: F401  (routes register on bp)
    from service.dashboard.templating import init_templating

    init_templating(bp)
    app.register_blueprint(bp)
