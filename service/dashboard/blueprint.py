"""The dashboard's blueprint and what every page shares: the login and CSRF guard, error pages, row-id rules.
The view modules (queue, audit, stats, admin, auth) register their routes on ``bp``; the package wires them."""
from __future__ import annotations

from pathlib import Path

from flask import Blueprint, abort, redirect, render_template, request, url_for
from flask_login import current_user
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException

from service.errors import error_response
from service.security import csrf

HERE = Path(__file__).parent
bp = Blueprint("dashboard", __name__, template_folder=str(HERE / "templates"), static_folder=str(HERE / "static"),
               static_url_path="/static")

PUBLIC_ENDPOINTS = {"dashboard.login", "dashboard.static"}
MAX_ID = 2**63 - 1
ID = f"int(max={MAX_ID})"  # URL converter for row ids: larger numbers are a 404, not a database overflow


def is_row_id(text: str) -> bool:
    """ASCII digits that fit a database id ("²" or "1e9" or 30 digits are not ids)."""
    return 0 < len(text) <= 18 and text.isascii() and text.isdigit()


@bp.before_request
def _guard():
    if request.endpoint == "dashboard.static":
        return None
    csrf.protect()  # every non-GET request of the dashboard carries the session's token
    if any("\x00" in key + value for data in (request.args, request.form) for key, value in data.items(multi=True)):
        abort(400, description="NUL characters are not accepted.")  # PostgreSQL cannot store or compare them
    if request.endpoint in PUBLIC_ENDPOINTS:
        return None
    if not current_user.is_authenticated:
        if request.accept_mimetypes.best == "application/json" or request.is_json:
            abort(401)
        return redirect(url_for("dashboard.login", next=request.full_path.rstrip("?")))
    if request.endpoint and request.endpoint.startswith("dashboard.admin_") and not current_user.is_admin:
        abort(403)
    return None


def _wants_json() -> bool:
    return (request.path.startswith("/actions/") or request.is_json
            or request.accept_mimetypes.best == "application/json")


@bp.errorhandler(HTTPException)
def _error_page(exc: HTTPException):
    """Dashboard errors: JSON for the page's scripts, a page in the dashboard's frame for people."""
    if exc.code is None or exc.code < 400:
        return exc
    message = exc.description or exc.name
    if isinstance(exc, CSRFError):
        message = "Your session has expired or the form is stale: reload the page and try again."
    if _wants_json():
        return error_response(exc.code, (exc.name or "error").lower().replace(" ", "_"), message)
    return render_template("error.html", code=exc.code, title=exc.name, message=message), exc.code
