"""Security wiring shared by every surface: response headers, the dashboard's login manager and CSRF.

* Every response carries a strict Content-Security-Policy (no inline scripts or styles, no framing), plus
  ``X-Frame-Options: DENY``, ``X-Content-Type-Options: nosniff`` and ``Referrer-Policy``.
* Flask-Login keeps moderators' sessions; users are re-read from the database on every request, so a deactivated
  account loses access at once.
* CSRF is checked only where a browser session authenticates (the dashboard blueprint calls ``csrf.protect()``
  in its ``before_request``). The JSON API, webhooks, Perspective and Coral endpoints use keys or signatures and
  stay CSRF-free.
"""
from __future__ import annotations

from dataclasses import dataclass

from flask import Flask, request
from flask_login import LoginManager, UserMixin
from flask_wtf.csrf import CSRFProtect

from core.storage.models import User
from service.context import db_session

CONTENT_SECURITY_POLICY = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
                           "frame-ancestors 'none'; base-uri 'none'; form-action 'self'")

csrf = CSRFProtect()
login_manager = LoginManager()


@dataclass
class SessionUser(UserMixin):
    """The logged-in account as the dashboard sees it (a plain copy, never attached to a database session)."""

    id: int
    username: str
    role: str

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"

    def get_id(self) -> str:
        return str(self.id)


def _load_user(user_id: str) -> SessionUser | None:
    if not (user_id.isascii() and user_id.isdigit() and len(user_id) <= 18):
        return None
    user = db_session().get(User, int(user_id))
    if user is None or not user.active:
        return None
    return SessionUser(id=user.id, username=user.username, role=user.role)


def init_app(app: Flask) -> None:
    app.config.setdefault("WTF_CSRF_CHECK_DEFAULT", False)  # only the dashboard opts in
    app.config.setdefault("WTF_CSRF_TIME_LIMIT", None)  # valid for the session's life (moderators stay for hours)
    app.config.update(REMEMBER_COOKIE_HTTPONLY=True, REMEMBER_COOKIE_SAMESITE="Lax",
                      REMEMBER_COOKIE_SECURE=app.config.get("SESSION_COOKIE_SECURE", False))
    csrf.init_app(app)
    login_manager.init_app(app)
    login_manager.login_view = "dashboard.login"
    login_manager.login_message = "Please log in to continue."
    login_manager.session_protection = "basic"
    login_manager.user_loader(_load_user)

    @app.after_request
    def _security_headers(response):
        headers = response.headers
        headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
        headers.setdefault("X-Frame-Options", "DENY")
        headers.setdefault("X-Content-Type-Options", "nosniff")
        headers.setdefault("Referrer-Policy", "same-origin")
        if response.mimetype == "text/html" and request.endpoint and request.endpoint.startswith("dashboard."):
            headers.setdefault("Cache-Control", "no-store")
        return response
