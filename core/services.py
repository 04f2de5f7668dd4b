"""The services a process works with: its settings, its database and its Redis, built once at start-up
(``create_app`` for the web, ``vigie worker`` for a worker, a command for the CLI) and passed explicitly to whatever
needs them: request handlers reach them through the app, rq jobs receive them as their first argument."""
from __future__ import annotations

from dataclasses import dataclass

from redis import Redis

from core.connection import connect
from core.settings import Settings
from core.storage.db import Database


@dataclass
class Services:
    settings: Settings
    db: Database
    redis: Redis


def build(settings: Settings, db: Database | None = None, redis: Redis | None = None) -> Services:
    """Services from the settings (a database engine and a Redis client), or the given ones."""
    return Services(settings=settings, db=db or Database(settings.resolved_database_url),
                    redis=redis if redis is not None else connect(settings))
