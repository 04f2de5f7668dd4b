"""Login and logout. Passwords are checked with argon2 (service.accounts); failed logins are limited per client
address and per username (service.ratelimit: 429 past 10 failures in 15 minutes by default, counted in Redis or,
if it is down, in memory); the session is cleared on login so a session planted before login is worthless; logout
is a POST (no action by GET) and ends every session of the user (service.security.end_sessions), so a copied
session cookie stops working."""
from __future__ import annotations

import logging
from urllib.parse import urlsplit

from flask import flash, redirect, render_template, request, session, url_for
from flask_babel import gettext
from flask_login import current_user, login_user, logout_user

from service.accounts import authenticate
from service.context import db_session
from service.dashboard.blueprint import bp
from service.security import SessionUser, end_sessions


log = logging.getLogger(__name__)


def _safe_next(target: str | None) -> str:
    """Only a same-site path: ``/queue?site=2``. Anything a browser could read as another host or that could break
    the header (``//evil.example``, ``/\tevil``, ``https://...``, backslashes, spaces, control or non-ASCII
    characters, CR/LF) falls back to the dashboard home."""
    home = url_for("dashboard.queue")
    if not target or len(target) > 2000 or not target.isascii() or not target.isprintable():
        return home
    if any(c in target for c in " \\") or not target.startswith("/") or target.startswith("//"):
        return home
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not parts.path.startswith("/"):
        return home
    return target


@bp.route("/login", methods=["GET", "POST"])
def login():
    if current_user.is_authenticated and request.method == "GET":
        return redirect(url_for("dashboard.queue"))
    error = None
    if request.method == "POST":
        username = request.form.get("username", "")[:100]
        password = request.form.get("password", "")[:1000]
        user = authenticate(db_session(), username, password) if username and password else None
        if user is None:  # a 401: counted by the login limits (service.ratelimit)
            error = gettext("Unknown user or wrong password.")
        else:
            session.clear()
            login_user(SessionUser(id=user.id, username=user.username, role=user.role,
                                   generation=user.session_generation or 0))
            return redirect(_safe_next(request.args.get("next")))
    return render_template("login.html", error=error), (401 if error else 200)


@bp.route("/logout", methods=["POST"])
def logout():
    if current_user.is_authenticated:
        end_sessions(db_session(), current_user.id)  # a copy of this session cookie is worthless from now on
    logout_user()
    session.clear()
    flash(gettext("You are logged out."))
    return redirect(url_for("dashboard.login"))
