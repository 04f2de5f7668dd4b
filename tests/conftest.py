"""Shared fixtures: a real database (SQLite file, or PostgreSQL when VIGIE_TEST_DATABASE_URL is set), a real Redis
(embedded, or VIGIE_TEST_REDIS_URL), the app, a site with an API key, and the real model.

Each test starts from empty tables and an empty Redis database.
"""
from __future__ import annotations

import os
import uuid
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from service.app import create_app
from core.settings import Settings
from core.storage.migrate import upgrade
from core.storage.models import Base

TEST_DB_URL = os.environ.get("VIGIE_TEST_DATABASE_URL")
TEST_REDIS_URL = os.environ.get("VIGIE_TEST_REDIS_URL")


def pytest_sessionfinish(session, exitstatus):
    """The one Chromium of the browser tests (tests/browser_support.py) closes with the session."""
    from tests.browser_support import close_shared_browser

    close_shared_browser()


@pytest.fixture(scope="session", autouse=True)
def _stop_embedded_redis():
    """The test session's embedded Redis server stops with the session instead of outliving it."""
    yield
    from core.connection import shutdown_embedded

    shutdown_embedded()


@pytest.fixture(scope="session")
def database_url(tmp_path_factory):
    if not TEST_DB_URL:
        url = f"sqlite:///{tmp_path_factory.mktemp('db') / 'vigie.db'}"
        upgrade(url)
        yield url
        return
    # A throw-away PostgreSQL database for this test session.
    base = make_url(TEST_DB_URL)
    name = f"vigie_test_{uuid.uuid4().hex[:8]}"
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = base.set(database=name).render_as_string(hide_password=False)
    upgrade(url)
    yield url
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(scope="session")
def data_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("data")


@pytest.fixture(scope="session")
def model_cache() -> Path:
    """The base encoder is built once and shared across test sessions (it is deterministic)."""
    path = Path(os.environ.get("VIGIE_MODEL_CACHE") or Path.home() / ".cache" / "vigie" / "models")
    path.mkdir(parents=True, exist_ok=True)
    return path


@pytest.fixture(scope="session")
def settings(database_url, data_dir, model_cache) -> Settings:
    return Settings(data_dir=data_dir, database_url=database_url, redis_url=TEST_REDIS_URL,
                    model_cache=model_cache, secret_key="test-secret", batch_wait_ms=0,
                    callback_allow_networks="127.0.0.0/8,::1",  # the tests' webhook receivers listen there
                    api_rate_limit="off")  # tests fire requests faster than any site; test_login_security sets one


@pytest.fixture(scope="session")
def _app(settings):
    return create_app(settings)


@pytest.fixture
def app(_app):
    """The app, with empty tables and an empty Redis before each test."""
    vigie = _app.extensions["vigie"]
    vigie.redis.flushdb()
    with vigie.db.engine.begin() as conn:
        if vigie.db.engine.dialect.name == "postgresql":
            names = ", ".join(f'"{t.name}"' for t in Base.metadata.sorted_tables)
            conn.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
        else:
            for table in reversed(Base.metadata.sorted_tables):
                conn.execute(table.delete())
    yield _app
    vigie.redis.flushdb()


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def db(app):
    """A database session for arranging and asserting."""
    with app.extensions["vigie"].db.session() as session:
        yield session


@pytest.fixture
def site(app):
    """A site with one API key: returns a namespace with .id, .slug, .api_key, .secret, .headers."""
    from types import SimpleNamespace

    from core.keys import create_site

    with app.extensions["vigie"].db.session() as session:
        site, key, secret = create_site(session, "lemonde-test", "Le Monde (test)")
        site_id = site.id
    return SimpleNamespace(id=site_id, slug="lemonde-test", api_key=key, secret=secret,
                           headers={"Authorization": f"Bearer {key}"})


@pytest.fixture(scope="session")
def scorer(settings):
    """The real default model, loaded once for the whole test session."""
    from workers import runtime

    os.environ.setdefault("VIGIE_MODEL_CACHE", str(settings.resolved_model_cache))
    scorer = runtime.load_scorer(settings)
    runtime.set_scorer(scorer)
    return scorer


@pytest.fixture
def work(app, scorer):
    """Run every queued job (sync, scoring, explanations, webhooks) in this process until the queues are empty,
    with the real model. A test posts comments, calls ``work()``, then asserts the decisions. A failed job raises with its
    traceback; ``work(queues=["webhooks"])`` runs only the named queues; ``work(raise_failures=False)`` returns
    the number of failed jobs instead."""
    from core.queues import ALL_QUEUES
    from workers.worker import run_burst

    vigie = app.extensions["vigie"]

    def run(queues=None, raise_failures: bool = True) -> int:
        return run_burst(vigie, queues or ALL_QUEUES, raise_failures=raise_failures)

    return run


@pytest.fixture
def live_worker(app, settings, tmp_path):
    """A real ``vigie worker`` subprocess (loads the model itself) on the test's database and Redis, ready (model
    loaded, registered) when the test starts, stopped at teardown. ``.process``, ``.env``, ``.log_path``,
    ``.log()`` (its output so far). Costs a model load: use it only where a separate process matters."""
    import subprocess
    import sys
    import time
    from types import SimpleNamespace

    from core.connection import redis_url_for
    from core.queues import live_workers

    env = dict(os.environ)
    env.update(VIGIE_DATABASE_URL=settings.resolved_database_url, VIGIE_REDIS_URL=redis_url_for(settings),
               VIGIE_MODEL_CACHE=str(settings.resolved_model_cache), VIGIE_DATA_DIR=str(settings.data_dir),
               VIGIE_SECRET_KEY="test-secret", VIGIE_BATCH_WAIT_MS="0", VIGIE_LOG_LEVEL="INFO")
    log_path = tmp_path / "worker.log"
    log_file = open(log_path, "wb")
    process = subprocess.Popen([sys.executable, "-m", "core.cli", "worker"], env=env, stdout=log_file,
                               stderr=subprocess.STDOUT)
    handle = SimpleNamespace(process=process, env=env, log_path=log_path,
                             log=lambda: log_path.read_text(errors="replace"))
    redis = app.extensions["vigie"].redis
    deadline = time.monotonic() + 300
    try:
        while not any(f"-{process.pid}-" in name for name in live_workers(redis)):
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"vigie worker did not become ready (exit {process.poll()}):\n{handle.log()[-4000:]}")
            time.sleep(0.2)
        yield handle
    finally:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(5)
        log_file.close()
