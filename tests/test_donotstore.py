"""Perspective's ``doNotStore: true``: the comment's text is never written to disk in plaintext: not in the
database, not in Redis's append-only file or snapshot (it crosses Redis sealed for the workers' in-memory keys,
core/sealing.py). A real redis-server with ``appendonly yes`` and the SQLite database share one data directory,
a real worker scores the call, then every file under that directory is searched for the text."""
from __future__ import annotations

import json
import socket
import subprocess
import time
from pathlib import Path

import pytest

from core.settings import Settings
from core.storage.migrate import upgrade
from service.app import create_app
from tests.integration_support import patient_budgets, sync_worker

SECRET = "Ximénès Rocambole-Trifouillis est un parfait crétin"
STORED = "Bartholomé Vermicelle-Grandjean écrit un commentaire gardé"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _files_holding(root: Path, needle: str) -> list[str]:
    forms = {needle.encode("utf-8"), needle.encode("utf-16-le"), needle.encode("unicode_escape"),
             needle.encode("ascii", "backslashreplace"), json.dumps(needle)[1:-1].encode()}
    found = []
    for path in root.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            if any(form in data for form in forms):
                found.append(str(path.relative_to(root)))
    return found


@pytest.fixture
def stack(tmp_path, model_cache):
    """redis-server (append-only, fsync always) and SQLite, both under one data directory, and the app on them."""
    data = tmp_path / "data"
    (data / "redis").mkdir(parents=True)
    port = _free_port()
    redis_server = subprocess.Popen(["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--dir",
                                     str(data / "redis"), "--appendonly", "yes", "--appendfsync", "always",
                                     "--save", "", "--daemonize", "no"], stdout=subprocess.DEVNULL)
    try:
        settings = Settings(data_dir=data, database_url=f"sqlite:///{data / 'vigie.db'}",
                            redis_url=f"redis://127.0.0.1:{port}/0", model_cache=model_cache,
                            secret_key="test-secret", api_rate_limit="off")
        upgrade(settings.resolved_database_url)
        app = create_app(settings)
        redis = app.extensions["vigie"].redis
        deadline = time.monotonic() + 10
        while True:
            try:
                redis.ping()
                break
            except Exception:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        with sync_worker(settings, redis), patient_budgets(settings):
            yield app, settings, data
    finally:
        redis_server.terminate()
        redis_server.wait(10)


def test_a_do_not_store_text_is_never_on_disk(stack):
    app, settings, data = stack
    from core.keys import create_site

    with app.extensions["vigie"].db.session() as session:
        _, key, _ = create_site(session, "disque", "Disque")
    client = app.test_client()
    body = {"comment": {"text": SECRET}, "requestedAttributes": {"TOXICITY": {}}, "languages": ["fr"],
            "spanAnnotations": True}
    answer = client.post(f"/v1alpha1/comments:analyze?key={key}", json={**body, "doNotStore": True})
    assert answer.status_code == 200, answer.text
    assert answer.get_json()["attributeScores"]["TOXICITY"]["summaryScore"]["value"] > 0.5
    # The control: a call that may be stored lands on disk, so the search below does find what is there.
    kept = client.post(f"/v1alpha1/comments:analyze?key={key}",
                       json={**body, "comment": {"text": STORED}, "doNotStore": False})
    assert kept.status_code == 200, kept.text
    redis = app.extensions["vigie"].redis
    redis.save()  # a snapshot too (dump.rdb), besides the append-only file
    app.extensions["vigie"].db.engine.dispose()
    aof = b"".join(p.read_bytes() for p in (data / "redis").rglob("*.aof"))
    assert b"vigie:sync:req:" in aof  # the request did cross Redis, and its append-only file
    assert _files_holding(data, STORED)
    assert _files_holding(data, SECRET) == []
    assert _files_holding(data, "Rocambole") == []


def test_erasure_rewrites_redis_append_only_file(stack):
    """A comment scored synchronously crossed Redis in plaintext (its sync request is in the append-only file);
    erasing it rewrites that file, so the text leaves Redis's disk too."""
    app, settings, data = stack
    from core.keys import create_site

    with app.extensions["vigie"].db.session() as session:
        _, key, _ = create_site(session, "efface", "Efface")
    client = app.test_client()
    body = {"comment": {"text": STORED}, "requestedAttributes": {"TOXICITY": {}}, "languages": ["fr"],
            "doNotStore": False}
    assert client.post(f"/v1alpha1/comments:analyze?key={key}", json=body).status_code == 200
    assert _files_holding(data / "redis", STORED)
    assert [f for f in _files_holding(data, STORED) if f.startswith("vigie.db")]  # the database file or its log
    comment_id = client.get("/api/v1/comments", headers={"Authorization": f"Bearer {key}"}).get_json()[
        "comments"][0]["id"]
    erased = client.delete(f"/api/v1/comments/{comment_id}", headers={"Authorization": f"Bearer {key}"})
    assert erased.status_code == 200
    redis = app.extensions["vigie"].redis
    deadline = time.monotonic() + 30
    while redis.info("persistence")["aof_rewrite_in_progress"] or redis.info("persistence")[
            "aof_rewrite_scheduled"]:
        assert time.monotonic() < deadline
        time.sleep(0.1)
    assert _files_holding(data / "redis", STORED) == []
    app.extensions["vigie"].db.engine.dispose()
    assert _files_holding(data, STORED) == []  # SQLite too: secure_delete and a truncated write-ahead log
