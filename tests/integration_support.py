"""Helpers for the integration tests (Perspective, Coral, webhooks in and out): a real HTTP receiver on
127.0.0.1, a real ``vigie worker --queues sync`` subprocess, and request signing as a site would do it."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import SimpleNamespace
from typing import Iterator

from core import signing


class Receiver:
    """A webhook receiver: records every request; answers with the next status from ``statuses`` (then 200)."""

    def __init__(self, statuses: list[int] | None = None, delay_s: float = 0.0):
        self.statuses = list(statuses or [])
        self.delay_s = delay_s
        self.requests: list[SimpleNamespace] = []
        self.arrived = threading.Condition()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if receiver.delay_s:
                    time.sleep(receiver.delay_s)
                status = receiver.statuses.pop(0) if receiver.statuses else 200
                with receiver.arrived:
                    receiver.requests.append(SimpleNamespace(path=self.path, headers=dict(self.headers),
                                                             body=body, status=status, at=time.time()))
                    receiver.arrived.notify_all()
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks/vigie"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> Receiver:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()

    def wait_for(self, count: int, timeout_s: float = 10.0) -> list[SimpleNamespace]:
        with self.arrived:
            self.arrived.wait_for(lambda: len(self.requests) >= count, timeout_s)
            return list(self.requests)


def vigie_signed(secret: str, payload, timestamp: int | None = None) -> tuple[bytes, dict[str, str]]:
    """Body and headers of a signed webhook, as a comment system would send it."""
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    return body, {"Content-Type": "application/json", signing.VIGIE_HEADER: signing.sign(secret, body, timestamp)}


def coral_signed(secrets: list[str], payload) -> tuple[bytes, dict[str, str]]:
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    return body, {"Content-Type": "application/json", signing.CORAL_HEADER: signing.sign_coral(secrets, body)}


@contextmanager
def sync_worker(settings, redis, queues: str = "sync", **env_extra: str) -> Iterator[subprocess.Popen]:
    """A real ``vigie worker --queues sync`` process (or ``queues``) on the test's database and Redis, ready when
    yielded; ``env_extra``: more environment variables."""
    from core.connection import redis_url_for
    from core.queues import live_workers

    env = dict(os.environ)
    env.update(VIGIE_DATABASE_URL=settings.resolved_database_url, VIGIE_REDIS_URL=redis_url_for(settings),
               VIGIE_MODEL_CACHE=str(settings.resolved_model_cache), VIGIE_DATA_DIR=str(settings.data_dir),
               VIGIE_SECRET_KEY="test-secret", VIGIE_LOG_LEVEL="WARNING", **env_extra)
    process = subprocess.Popen([sys.executable, "-m", "core.cli", "worker", "--queues", queues], env=env)
    try:
        deadline = time.monotonic() + 300
        while not any(f"-{process.pid}-" in name for name in live_workers(redis)):
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the sync worker did not start (exit {process.poll()})")
            time.sleep(0.2)
        yield process
    finally:
        process.terminate()
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)


@contextmanager
def serve(app) -> Iterator[str]:
    """Serve the app over real HTTP on 127.0.0.1 (a thread); yields its base URL."""
    from werkzeug.serving import make_server

    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()


def run_webhook_jobs(app) -> int:
    """Run the queued webhook deliveries in this process (a burst worker on ``vigie-webhooks``, no model), as a
    worker process would, with the test's settings, database and Redis."""
    from workers.worker import run_burst

    return run_burst(app.extensions["vigie"], ["webhooks"], raise_failures=False)


@contextmanager
def patient_budgets(settings, ms: int = 30_000) -> Iterator[None]:
    """Give synchronous scoring a long budget: tests check behaviour, not speed (bench/bench_integrations.py
    measures latency), and CI machines may be busy."""
    saved = settings.sync_timeout_ms, settings.coral_timeout_ms
    settings.sync_timeout_ms = settings.coral_timeout_ms = ms
    try:
        yield
    finally:
        settings.sync_timeout_ms, settings.coral_timeout_ms = saved
