"""The app's services (settings, database, Redis: ``core.services.Services``, built once by ``create_app``) and the
per-request database session."""
from __future__ import annotations

from flask import Flask, current_app, g
from sqlalchemy.orm import Session

from core.services import Services


def vigie(app: Flask | None = None) -> Services:
    return (app or current_app).extensions["vigie"]


def db_session() -> Session:
    """The request's session, closed (rolled back if uncommitted) at teardown."""
    if "db_session" not in g:
        g.db_session = vigie().db.sessionmaker()
    return g.db_session


def init_app(app: Flask, services: Services) -> None:
    app.extensions["vigie"] = services

    @app.teardown_appcontext
    def _close_session(_exc):
        session = g.pop("db_session", None)
        if session is not None:
            session.close()
