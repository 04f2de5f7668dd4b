"""Login and logout. Passwords are checked with argon2 (service.accounts); the session is cleared on login so a
session id planted before login is worthless; logout is a POST (no action by GET)."""
from __future__ import annotations

from flask import flash, redirect, render_template, request, session, url_for
from flask_login import current_user, login_user, logout_user

from service.accounts import authenticate
from service.context import db_session
from service.dashboard import bp
from service.security import SessionUser


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
        user = authenticate(db_session(), username, password) if username and password else None
        if user is None:
            error = "Unknown user or wrong password."
        else:
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
