"""Per-app services (settings, database, Redis) and the per-request database session."""
from __future__ import annotations

from dataclasses import dataclass

from flask import Flask, current_app, g
from redis import Redis
from sqlalchemy.orm import Session

from service.config import Settings
from service.storage.db import Database


@dataclass
class Vigie:
    settings: Settings
    db: Database
    redis: Redis


def vigie(app: Flask | None = None) -> Vigie:
    return (app or current_app).extensions["vigie"]


def db_session() -> Session:
    """The request's session, closed (rolled back if uncommitted) at teardown."""
    if "db_session" not in g:
        g.db_session = vigie().db.sessionmaker()
    return g.db_session


def init_app(app: Flask) -> None:
    @app.teardown_appcontext
    def _close_session(_exc):
        session = g.pop("db_session", None)
        if session is not None:
            session.close()
