"""/metrics: Prometheus's text format, figures that move as comments flow through a real worker process, queue
figures computed at scrape time, and the optional bearer token."""
from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
import urllib.request

import pytest

from core.queues import PENDING_KEY

COMMENTS = ["Merci pour cet article très clair.", "Ferme-la, espèce d'imbécile, personne ne veut te lire."]


def scrape(client, **headers) -> dict[str, float]:
    response = client.get("/metrics", headers=headers)
    assert response.status_code == 200, response.text
    assert response.content_type.startswith("text/plain")
    values: dict[str, float] = {}
    for line in response.text.splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.rpartition(" ")
            values[name] = float(value)
    return values


def total(values: dict[str, float], prefix: str, **labels) -> float:
    """Sum of the samples named ``prefix`` (with these label values) across processes."""
    out = 0.0
    for name, value in values.items():
        metric, _, rest = name.partition("{")
        if metric != prefix:
            continue
        found = dict(re.findall(r'(\w+)="([^"]*)"', rest))
        if all(found.get(k) == v for k, v in labels.items()):
            out += value
    return out


def test_figures_move_as_a_real_worker_decides(app, client, site, db, live_worker):
    before = scrape(client)
    ids = []
    for text in COMMENTS:
        response = client.post("/api/v1/comments", json={"text": text}, headers=site.headers)
        assert response.status_code == 202
        ids.append(response.get_json()["id"])
    for comment_id in ids:
        assert client.get(f"/api/v1/comments/{comment_id}?wait=10", headers=site.headers).get_json()["status"] != "pending"
    deadline = time.monotonic() + 10  # the worker commits, then counts: give its counter a moment to land
    while True:
        after = scrape(client)
        decided = total(after, "vigie_comments_decided_total", source="api") - total(
            before, "vigie_comments_decided_total", source="api")
        if decided >= 2 or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert total(after, "vigie_comments_received_total", source="api") - total(
        before, "vigie_comments_received_total", source="api") == 2
    assert decided == 2  # counted by the worker process, exposed by the web's /metrics
    assert total(after, "vigie_time_to_decision_seconds_count", source="api") - total(
        before, "vigie_time_to_decision_seconds_count", source="api") == 2
    assert total(after, "vigie_batch_size_count", kind="batch") > total(before, "vigie_batch_size_count", kind="batch")
    assert total(after, "vigie_model_latency_seconds_count", kind="batch") > total(
        before, "vigie_model_latency_seconds_count", kind="batch")
    assert total(after, "vigie_worker_heartbeats_total") > 0
    assert after["vigie_workers_live"] >= 1
    assert after["vigie_comments_pending"] == 0 and after["vigie_oldest_pending_age_seconds"] == 0


def test_queue_depth_and_oldest_pending_age_are_read_at_scrape_time(app, client, site):
    redis = app.extensions["vigie"].redis
    response = client.post("/api/v1/comments", json={"text": "Un commentaire en attente."}, headers=site.headers)
    assert response.status_code == 202  # no worker runs here: it stays pending
    time.sleep(1.1)
    values = scrape(client)
    assert values['vigie_queue_depth{state="pending"}'] == redis.zcard(PENDING_KEY) == 1
    assert values["vigie_comments_pending"] == 1
    assert values["vigie_oldest_pending_age_seconds"] >= 1
    assert values['vigie_scrape_error{part="redis"}'] == 0


@pytest.fixture
def token(app):
    settings = app.extensions["vigie"].settings
    settings.metrics_token = "s3cret-metrics-token"
    yield settings.metrics_token
    settings.metrics_token = None


def test_a_metrics_token_protects_the_endpoint(client, token):
    assert client.get("/metrics").status_code == 401
    refused = client.get("/metrics", headers={"Authorization": "Bearer wrong"})
    assert refused.status_code == 401 and refused.get_json()["error"]["code"] == "unauthorized"
    assert "vigie_queue_depth" in client.get("/metrics", headers={"Authorization": f"Bearer {token}"}).text


def test_a_worker_on_another_host_serves_its_own_counters(settings, tmp_path):
    """VIGIE_WORKER_METRICS_PORT: a worker whose metrics directory the web cannot read serves its counters."""
    from core.connection import redis_url_for

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = dict(os.environ)
    env.update(VIGIE_DATABASE_URL=settings.resolved_database_url, VIGIE_REDIS_URL=redis_url_for(settings),
               VIGIE_DATA_DIR=str(tmp_path / "elsewhere"), VIGIE_SECRET_KEY="test-secret",
               VIGIE_WORKER_METRICS_PORT=str(port), VIGIE_LOG_LEVEL="WARNING")
    process = subprocess.Popen([sys.executable, "-m", "core.cli", "worker", "--queues", "webhooks"], env=env)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2) as response:
                    body = response.read().decode()
                break
            except OSError:
                assert process.poll() is None and time.monotonic() < deadline
                time.sleep(0.2)
        assert "vigie_worker_heartbeats_total 0.0" in body  # a webhook worker: not a model worker's heartbeat
        assert (tmp_path / "elsewhere" / "metrics").is_dir()
    finally:
        process.terminate()
        process.wait(20)
