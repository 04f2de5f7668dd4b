"""Login and logout. Passwords are checked with argon2 (service.accounts); after 10 failures in 15 minutes for one
address and username, logins are refused (429) until the window passes; the session is cleared on login so a
session planted before login is worthless; logout is a POST (no action by GET)."""
from __future__ import annotations

import hashlib
import logging
from urllib.parse import urlsplit

from flask import flash, redirect, render_template, request, session, url_for
from flask_login import current_user, login_user, logout_user
from redis.exceptions import RedisError

from service.accounts import authenticate
from service.context import db_session, vigie
from service.dashboard import bp
from service.security import SessionUser


log = logging.getLogger(__name__)
MAX_FAILURES = 10
FAILURE_WINDOW_S = 15 * 60


def _failure_key(username: str) -> str:
    who = hashlib.sha256(f"{request.remote_addr}|{username.strip().lower()}".encode()).hexdigest()[:32]
    return f"vigie:login-failures:{who}"


def _too_many_failures(username: str) -> bool:
    try:
        return int(vigie().redis.get(_failure_key(username)) or 0) >= MAX_FAILURES
    except RedisError:
        return False


def _record_failure(username: str) -> None:
    try:
        pipe = vigie().redis.pipeline()
        pipe.incr(_failure_key(username))
        pipe.expire(_failure_key(username), FAILURE_WINDOW_S)
        pipe.execute()
    except RedisError:
        log.warning("could not record a failed login (Redis)", exc_info=True)


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
        if _too_many_failures(username):
            return render_template("login.html", error="Too many failed attempts: wait 15 minutes."), 429
        user = authenticate(db_session(), username, password) if username and password else None
        if user is None:
            _record_failure(username)
            error = "Unknown user or wrong password."
        else:
            try:
                vigie().redis.delete(_failure_key(username))
            except RedisError:
                pass
            session.clear()
            login_user(SessionUser(id=user.id, username=user.username, role=user.role))
            return redirect(_safe_next(request.args.get("next")))
    return render_template("login.html", error=error), (401 if error else 200)


@bp.route("/logout", methods=["POST"])
def logout():
    logout_user()
    session.clear()
    flash("You are logged out.")
    return redirect(url_for("dashboard.login"))
