"""Login and logout. Passwords are checked with argon2 (service.accounts); after 10 failures in 15 minutes for one
address and username, logins are refused (429) until the window passes; the session is cleared on login so a
session planted before login is worthless; logout is a POST (no action by GET)."""
from __future__ import annotations

import hashlib
import logging

from flask import flash, redirect, render_template, request, session, url_for
from flask_login import current_user, login_user, logout_user
from redis.exceptions import RedisError

from core.queues import LOGIN_FAILURES_PREFIX, LOGIN_FAILURES_TTL_S
from service.accounts import authenticate
from service.context import db_session, vigie
from service.dashboard.blueprint import bp
from service.security import SessionUser


log = logging.getLogger(__name__)
MAX_FAILURES = 10


def _failure_key(username: str) -> str:
    who = hashlib.sha256(f"{request.remote_addr}|{username.strip().lower()}".encode()).hexdigest()[:32]
    return f"{LOGIN_FAILURES_PREFIX}{who}"


def _too_many_failures(username: str) -> bool:
    try:
        return int(vigie().redis.get(_failure_key(username)) or 0) >= MAX_FAILURES
    except RedisError:
        return False


def _record_failure(username: str) -> None:
    try:
        pipe = vigie().redis.pipeline()
        pipe.incr(_failure_key(username))
        pipe.expire(_failure_key(username), LOGIN_FAILURES_TTL_S)
        pipe.execute()
    except RedisError:
        log.warning("could not record a failed login (Redis)", exc_info=True)


def _safe_next(target: str | None) -> str:
    """Only local paths: ``//evil.example`` or ``https://...`` fall back to the queue."""
    if target and target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return url_for("dashboard.queue")


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
