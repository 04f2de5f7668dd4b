"""Security wiring shared by every surface: response headers, the dashboard's login manager and CSRF.

* Every response carries a strict Content-Security-Policy (no inline scripts or styles, no framing), plus
  ``X-Frame-Options: DENY``, ``X-Content-Type-Options: nosniff`` and ``Referrer-Policy``.
* Flask-Login keeps moderators' sessions; users are re-read from the database on every request, so a deactivated
  account loses access at once. The session stores ``<user id>.<session generation>``; logout increments the
  user's generation (``users.session_generation``), so every copy of an ended session's cookie is refused.
* CSRF is checked only where a browser session authenticates (the dashboard blueprint calls ``csrf.protect()``
  in its ``before_request``). The JSON API, webhooks, Perspective and Coral endpoints use keys or signatures and
  stay CSRF-free.
"""
from __future__ import annotations

from dataclasses import dataclass

from flask import Flask, request
from flask_login import LoginManager, UserMixin
from flask_wtf.csrf import CSRFProtect
from sqlalchemy import update

from core.inputlimits import is_row_id_text
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
    generation: int = 0  # User.session_generation when this session began

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"

    def get_id(self) -> str:
        """What the session cookie stores: ``<user id>.<session generation>`` (Flask-Login's "alternative id"):
        a cookie from before the user's last logout no longer matches."""
        return f"{self.id}.{self.generation}"


def _load_user(session_id: str) -> SessionUser | None:
    user_id, _, generation = (session_id or "").partition(".")
    if not is_row_id_text(user_id) or not (generation.isascii() and generation.isdigit() and len(generation) <= 9):
        return None
    user = db_session().get(User, int(user_id))
    if user is None or not user.active or (user.session_generation or 0) != int(generation):
        return None
    return SessionUser(id=user.id, username=user.username, role=user.role, generation=int(generation))


def end_sessions(session, user_id: int) -> None:
    """End every dashboard session of a user (logout): their cookies name the old generation. Commits."""
    session.execute(update(User).where(User.id == user_id).values(session_generation=User.session_generation + 1))
    session.commit()


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
