"""The `vigie` command: what an operator types."""
from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time

import pytest
import requests
from click.testing import CliRunner
from sqlalchemy import create_engine, inspect, select

from core.cli import main
from core.connection import redis_url_for
from core.queues import SCORE_QUEUE, queue
from core.settings import Settings
from core.storage.models import User


@pytest.fixture
def env(settings):
    return {"VIGIE_DATABASE_URL": settings.resolved_database_url, "VIGIE_REDIS_URL": redis_url_for(settings),
            "VIGIE_DATA_DIR": str(settings.data_dir), "VIGIE_SECRET_KEY": "test-secret"}


def vigie(env, *args, input=None):
    return CliRunner().invoke(main, list(args), env=env, input=input, catch_exceptions=False)


def test_help_lists_the_service_commands():
    out = vigie({}, "--help").output
    for name in ("web", "worker", "up", "migrate", "create-site", "create-user", "failed", "reconcile"):
        assert name in out


def test_migrate_creates_the_schema_on_a_fresh_sqlite_file(tmp_path):
    url = f"sqlite:///{tmp_path / 'fresh.db'}"
    result = vigie({"VIGIE_DATABASE_URL": url, "VIGIE_DATA_DIR": str(tmp_path)}, "migrate")
    assert result.exit_code == 0, result.output
    tables = set(inspect(create_engine(url)).get_table_names())
    assert {"sites", "comments", "model_results", "audit_log", "users"} <= tables
    assert vigie({"VIGIE_DATABASE_URL": url, "VIGIE_DATA_DIR": str(tmp_path)}, "migrate").exit_code == 0


def test_created_site_key_works_with_the_api(app, client, env):
    result = vigie(env, "create-site", "ouest-test", "--name", "Ouest (test)", "--json")
    assert result.exit_code == 0, result.output
    created = json.loads(result.output)
    assert created["api_key"].startswith("vg_") and created["signing_secret"]
    response = client.post("/api/v1/comments", json={"text": "Bonjour"},
                           headers={"Authorization": f"Bearer {created['api_key']}"})
    assert response.status_code == 202
    again = vigie(env, "create-site", "ouest-test")
    assert again.exit_code != 0 and "already exists" in again.output


def test_create_user_hashes_the_password_and_refuses_duplicates(app, db, env):
    result = vigie(env, "create-user", "camille", "--role", "admin", input="motdepasse-solide\nmotdepasse-solide\n")
    assert result.exit_code == 0, result.output
    user = db.scalar(select(User).where(User.username == "camille"))
    assert user.role == "admin" and "motdepasse" not in user.password_hash
    duplicate = vigie(env, "create-user", "camille", "--password", "autre-motdepasse")
    assert duplicate.exit_code != 0 and "already exists" in duplicate.output
    short = vigie(env, "create-user", "alex", "--password", "court")
    assert short.exit_code != 0 and "8 characters" in short.output


def test_failed_jobs_are_listed_and_requeued(app, env):
    redis = app.extensions["vigie"].redis
    score = queue(SCORE_QUEUE, redis)
    score.enqueue("workers.jobs.drain", limit="not-a-number", failure_ttl=3600)
    from workers.worker import run_burst

    assert run_burst(app.extensions["vigie"], [SCORE_QUEUE], raise_failures=False) == 1
    listed = json.loads(vigie(env, "failed", "--json").output)
    assert [row["func"] for row in listed["failed"]] == ["workers.jobs.drain"]
    assert listed["failed"][0]["error"]
    assert vigie(env, "failed", "--requeue").exit_code == 0
    assert score.count == 1 and json.loads(vigie(env, "failed", "--json").output)["failed"] == []


def test_reconcile_command_requeues_orphans(app, client, site, env):
    client.post("/api/v1/comments", json={"text": "Bonjour"}, headers=site.headers)
    app.extensions["vigie"].redis.flushdb()  # Redis lost its data
    result = vigie(env, "reconcile", "--min-age", "0")
    assert result.exit_code == 0 and result.output.startswith("1 ")


def test_webhook_worker_runs_without_the_model(env, settings):
    """`vigie worker --queues webhooks` serves outgoing callbacks without loading the model (small, fast)."""
    full_env = {**os.environ, **env, "VIGIE_LOG_LEVEL": "INFO"}
    done = subprocess.run([sys.executable, "-m", "core.cli", "worker", "--queues", "webhooks", "--burst"],
                          env=full_env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "vigie-webhooks" in done.stderr and "loading model" not in done.stderr


def test_an_idle_worker_stops_on_sigterm_without_restarting(app, env, settings):
    """SIGTERM (docker stop, `vigie up`'s Ctrl-C) to a worker waiting for jobs ends the process cleanly: rq ends its
    loop without setting its in-job stop flag, and the restart loop must not take that for an error."""
    from rq import Worker

    full_env = {**os.environ, **env, "VIGIE_LOG_LEVEL": "INFO"}
    process = subprocess.Popen([sys.executable, "-m", "core.cli", "worker", "--queues", "webhooks"], env=full_env,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        redis = app.extensions["vigie"].redis
        deadline = time.monotonic() + 60
        while not any(f"-{process.pid}-" in w.name for w in Worker.all(connection=redis)):
            assert process.poll() is None and time.monotonic() < deadline, "the worker never started listening"
            time.sleep(0.1)
        process.terminate()
        output = process.communicate(timeout=30)[0]
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 0, output[-2000:]
    assert "work loop stopped" not in output and "Traceback" not in output, output[-2000:]


def test_json_logs_carry_every_line_and_debug_adds_rqs_own(env, settings):
    """VIGIE_LOG_FORMAT=json: every log line is one JSON object (rq's included); rq's lines show only at DEBUG."""
    def run_worker(**extra):
        full_env = {**os.environ, **env, "VIGIE_LOG_FORMAT": "json", **extra}
        done = subprocess.run([sys.executable, "-m", "core.cli", "worker", "--queues", "webhooks", "--burst"],
                              env=full_env, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr[-2000:]
        lines = [json.loads(line) for line in done.stderr.splitlines() if line.strip()]
        assert lines and all({"time", "level", "logger", "message"} <= set(line) for line in lines)
        return lines

    quiet = run_worker(VIGIE_LOG_LEVEL="INFO")
    assert any("vigie-webhooks" in line["message"] for line in quiet)
    assert not [line for line in quiet if line["logger"].startswith("rq")]
    debug = run_worker(VIGIE_LOG_LEVEL="debug")
    assert [line for line in debug if line["logger"].startswith("rq")]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Output:
    """A child process's output, read line by line in a thread (so the pipe never fills)."""

    def __init__(self, process: subprocess.Popen) -> None:
        self.lines: list[str] = []
        self._thread = threading.Thread(target=self._read, args=(process,), daemon=True)
        self._thread.start()

    def _read(self, process: subprocess.Popen) -> None:
        for raw in process.stdout:
            self.lines.append(raw.decode(errors="replace").rstrip("\n"))

    def text(self) -> str:
        return "\n".join(self.lines)

    def join(self, timeout: float = 10) -> None:
        self._thread.join(timeout)


def ready_lines(lines: list[str]) -> list[str]:
    return [line for line in lines if " vigie: ready on " in line]


@pytest.mark.skipif(bool(os.environ.get("VIGIE_TEST_DATABASE_URL")), reason="the quick start runs on SQLite")
def test_vigie_up_serves_and_decides_a_comment(tmp_path, settings):
    """The README's quick start: `vigie up` on a fresh data dir at the default log level, one ready line, a site, a
    French comment by HTTP, its decision read back with ?wait= in one request; and a quiet, error-free log."""
    port = free_port()
    own = {f"VIGIE_{name.upper()}" for name in Settings.model_fields}
    env = {k: v for k, v in os.environ.items() if k not in own}  # the quick start's defaults, not ours
    env.update(VIGIE_DATA_DIR=str(tmp_path / "var"), VIGIE_PORT=str(port),
               VIGIE_MODEL_CACHE=str(settings.resolved_model_cache))
    vigie_cmd = [sys.executable, "-m", "core.cli"]
    process = subprocess.Popen(vigie_cmd + ["up"], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    output = Output(process)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 240
        while not ready_lines(output.lines):  # the operator's signal: the ready line
            assert process.poll() is None, output.text()[-3000:]
            assert time.monotonic() < deadline, "vigie up printed no ready line:\n" + output.text()[-3000:]
            time.sleep(0.2)
        assert requests.get(f"{base}/readyz", timeout=5).status_code == 200, "ready line before /readyz is 200"
        created = json.loads(subprocess.run(vigie_cmd + ["create-site", "demo", "--json"], env=env, check=True,
                                            capture_output=True, text=True).stdout)
        headers = {"Authorization": f"Bearer {created['api_key']}"}
        text = ("J'ai suivi pendant des heures les \"merdias\" ... C'est l'écoeurement à en vomir devant tant "
                "de haine")
        accepted = requests.post(f"{base}/api/v1/comments", json={"text": text}, headers=headers, timeout=10)
        assert accepted.status_code == 202
        comment = requests.get(base + accepted.json()["url"] + "?wait=10", headers=headers, timeout=30).json()
        assert comment["status"] in ("approved", "flagged") and len(comment["scores"]) == 6
        # /metrics merges gunicorn's processes and the worker's: the worker's decision is counted there.
        deadline = time.monotonic() + 10
        while True:
            scraped = requests.get(f"{base}/metrics", timeout=5).text
            decided = sum(float(line.rpartition(" ")[2]) for line in scraped.splitlines()
                          if line.startswith("vigie_comments_decided_total{") and 'actor="model"' in line)
            if decided >= 1 or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        assert decided == 1, scraped
        assert 'vigie_comments_received_total{source="api"} 1.0' in scraped and "vigie_workers_live 1.0" in scraped
        assert (tmp_path / "var" / "metrics").is_dir()
        for _ in range(10):  # idle, with a load balancer polling /readyz
            requests.get(f"{base}/readyz", timeout=5)
            time.sleep(0.3)
    finally:
        process.terminate()
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        output.join()
    lines = output.lines
    log = output.text()
    assert len(ready_lines(lines)) == 1, log
    assert " worker(s) have loaded the model" in ready_lines(lines)[0] and " s:" in ready_lines(lines)[0]
    assert not [line for line in lines if " ERROR " in line or "Traceback" in line], log
    assert not [line for line in lines if " WARNING " in line], log  # not one per /readyz poll
    # Quiet INFO: start, model loaded (one per worker), ready, one line per batch, stop; no line per job or request.
    info = [line for line in lines if " INFO " in line]
    assert len(info) <= 12, log
    assert not [line for line in lines if " rq." in line or "GET /readyz" in line], log  # per job, per request
