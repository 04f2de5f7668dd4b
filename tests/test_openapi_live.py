"""Schemathesis against a live Vigie: a real ``vigie web`` (gunicorn) and a real ``vigie worker`` (the model, every
queue) on the test session's database and Redis, driven over HTTP with requests generated from the OpenAPI
document the server serves (positive and negative data, the documented examples, schemathesis' coverage phase).

Every response must pass three checks: no server error (5xx other than a documented 503), the body fits the
documented schema for its status, and the status is documented. A site's API key is sent with every REST, admin
and Perspective request, and the Coral and webhook bodies are signed with the site's current secrets (read from
the database per request: the fuzzer adds and removes secrets), so the generated data reaches the handlers instead
of stopping at authentication. Deterministic (a fixed seed, ``deterministic`` generation); the per-API-key and
Coral rate limits are off. ``VIGIE_SCHEMATHESIS_EXAMPLES`` sets the examples per operation (default below);
``test_enough_requests_were_sent`` checks the total and prints it with the statuses seen per operation."""
from __future__ import annotations

import os
import subprocess
import sys
import time
from collections import Counter, defaultdict
from types import SimpleNamespace
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
import schemathesis
from schemathesis import checks as st_checks

from core import signing
from core.connection import redis_url_for
from core.keys import create_site
from core.settings import Settings
from core.storage.models import Site
from service import openapi
from tests.conftest import reset
from tests.integration_support import Receiver, sync_worker
from tests.test_cli import free_port

EXAMPLES = int(os.environ.get("VIGIE_SCHEMATHESIS_EXAMPLES", "50"))
MIN_REQUESTS = 2000
SLUG = "lemonde"  # the documented examples' slug; generated slugs use it 4 times in 5
# The live server's limits, which its /openapi.json states (and so what is generated): texts of at most 500
# characters and batches of at most 20, so that the model keeps up on these 2-core machines (a 20,000-character
# text is ~100 windows of the model: seconds of CPU).
LIMITS = {"VIGIE_MAX_TEXT_CHARS": "500", "VIGIE_MAX_BATCH": "20", "VIGIE_PERSPECTIVE_LANGUAGES": "fr,en,de,es,it,pt,ro"}
LIVE_SETTINGS = Settings(max_text_chars=500, max_batch=20, perspective_languages=LIMITS["VIGIE_PERSPECTIVE_LANGUAGES"])
CONFIG = schemathesis.Config.from_dict({
    "seed": 20261201,
    "dictionaries": {"sites": {"values": [SLUG]}},
    "parameters": {"path.slug": {"dictionary": "sites", "probability": 0.8}},
    "generation": {"mode": "all", "max-examples": EXAMPLES, "deterministic": True,
                   "with-security-parameters": False, "database": "none"},
    "phases": {"stateful": {"enabled": False}},
    # A 503 is not a server error where the document says the operation answers it (the status check holds it
    # to that): no worker answered in time, say, on a busy machine.
    "checks": {"not_a_server_error": {"expected-statuses": ["1XX", "2XX", "3XX", "4XX", "503"]}},
})
CHECKS = [st_checks.not_a_server_error, st_checks.response_schema_conformance, st_checks.status_code_conformance]

schema = schemathesis.openapi.from_dict(openapi.document(LIVE_SETTINGS), config=CONFIG)
SENT: dict[str, Counter] = defaultdict(Counter)  # operation -> status -> requests
SECONDS: Counter = Counter()  # operation -> seconds spent waiting for answers


class SiteCredentials(requests.auth.AuthBase):
    """What a site's integrations send: its API key (Bearer, or ``?key=`` for the Perspective API) and, on signed
    surfaces, the signatures of the body with every current secret of the site."""

    def __init__(self, app, site_id: int, api_key: str):
        self.app, self.site_id, self.api_key = app, site_id, api_key

    def secrets(self) -> list[str]:
        with self.app.extensions["vigie"].db.session() as session:
            return list(session.get(Site, self.site_id).signing_secrets or [])

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        url = urlsplit(request.url)
        body = request.body or b""
        body = body.encode("utf-8") if isinstance(body, str) else body
        if url.path.startswith("/webhooks/"):
            t = int(time.time())
            signatures = ",".join(f"v1={signing.hmac_hex(s, f'{t}.'.encode() + body)}" for s in self.secrets())
            request.headers[signing.VIGIE_HEADER] = f"t={t},{signatures}"
        elif url.path.startswith("/integrations/coral"):
            request.headers[signing.CORAL_HEADER] = signing.sign_coral(self.secrets(), body)
        elif url.path.startswith("/v1alpha1/"):
            if "key" not in parse_qs(url.query):
                request.prepare_url(request.url, {"key": self.api_key})
        else:
            request.headers["Authorization"] = f"Bearer {self.api_key}"
        return request


def _wait_ready(base: str, process: subprocess.Popen, log_path, timeout_s: float = 120) -> None:
    deadline = time.monotonic() + timeout_s
    while True:
        assert process.poll() is None, log_path.read_text(errors="replace")[-3000:]
        try:
            if requests.get(f"{base}/readyz", timeout=2).status_code == 200:
                return
        except requests.RequestException:
            pass
        assert time.monotonic() < deadline, "vigie web did not become ready:\n" + log_path.read_text()[-3000:]
        time.sleep(0.3)


@pytest.fixture(scope="module")
def live(_app, settings, tmp_path_factory):
    """A live Vigie (gunicorn + model workers on every queue) with one site whose decisions are delivered to a
    local receiver (so deliveries exist to list and resend)."""
    reset(_app)
    log_path = tmp_path_factory.mktemp("live") / "web.log"
    env_limits = {"VIGIE_API_RATE_LIMIT": "off", "VIGIE_CORAL_RATE_LIMIT": "off",
                  "VIGIE_CALLBACK_ALLOW_NETWORKS": "127.0.0.0/8,::1", "VIGIE_BATCH_WAIT_MS": "0", **LIMITS}
    with Receiver() as receiver:
        with _app.extensions["vigie"].db.session() as session:
            site, key, _ = create_site(session, SLUG, "Le Monde (schemathesis)")
            site.callback_url = receiver.url
            session.commit()
            site_id = site.id
        redis = _app.extensions["vigie"].redis
        # Two real model workers, one thread each: synchronous scoring (Perspective, Coral) never waits behind a
        # batch of queued comments, as in a deployment with a worker per queue.
        with sync_worker(settings, redis, queues="sync", VIGIE_TORCH_THREADS="1", **env_limits), \
                sync_worker(settings, redis, queues="score,explain,webhooks", VIGIE_TORCH_THREADS="1", **env_limits):
            port = free_port()
            env = {**os.environ, "VIGIE_DATABASE_URL": settings.resolved_database_url,
                   "VIGIE_REDIS_URL": redis_url_for(settings), "VIGIE_DATA_DIR": str(settings.data_dir),
                   "VIGIE_SECRET_KEY": "test-secret", "VIGIE_LOG_LEVEL": "WARNING",
                   # its own metrics directory: `vigie web` empties it at start (the test process counts in the
                   # session's)
                   "VIGIE_METRICS_DIR": str(log_path.parent / "metrics"),
                   # patient budgets: the checks are about conformance, not speed (a busy CI machine)
                   "VIGIE_SYNC_TIMEOUT_MS": "10000", "VIGIE_CORAL_TIMEOUT_MS": "5000", **env_limits}
            with open(log_path, "wb") as log_file:
                web = subprocess.Popen([sys.executable, "-m", "core.cli", "web", "--no-migrate", "--port", str(port),
                                        "--workers", "1", "--threads", "4"], env=env, stdout=log_file,
                                       stderr=subprocess.STDOUT)
                base = f"http://127.0.0.1:{port}"
                session = requests.Session()
                session.auth = SiteCredentials(_app, site_id, key)
                try:
                    _wait_ready(base, web, log_path)
                    yield SimpleNamespace(base_url=base, session=session, log_path=log_path, receiver=receiver)
                finally:
                    web.terminate()
                    web.wait(30)
                    session.close()
    reset(_app)


def test_the_live_server_serves_the_document_under_test(live):
    response = requests.get(f"{live.base_url}/openapi.json", timeout=10)
    assert response.status_code == 200 and response.json() == openapi.document(LIVE_SETTINGS)
    limits = response.json()["components"]["schemas"]
    assert limits["CommentIn"]["properties"]["text"]["maxLength"] == 500  # the server's own limits
    assert limits["CommentBatchIn"]["properties"]["comments"]["maxItems"] == 20


def test_a_request_line_too_long_for_gunicorn_is_a_json_414(live):
    response = requests.get(f"{live.base_url}/api/v1/comments?cursor={'9' * 5000}", timeout=10)
    assert response.status_code == 414
    assert response.headers["Content-Type"] == "application/json"
    assert response.json()["error"]["code"] == "uri_too_long"


@schema.parametrize()
def test_live_api_conforms_to_its_openapi_document(case, live):
    started = time.monotonic()
    response = case.call(base_url=live.base_url, session=live.session, timeout=60)
    SECONDS[case.operation.label] += time.monotonic() - started
    SENT[case.operation.label][response.status_code] += 1
    case.validate_response(response, checks=CHECKS)


def test_enough_requests_were_sent(live):
    """Runs after the operations' tests (file order): at least MIN_REQUESTS requests over every operation."""
    operations = {result.ok().label for result in schema.get_all_operations()}
    if set(SENT) != operations:
        pytest.skip(f"only {len(SENT)} of {len(operations)} operations ran (a selection): no total to check")
    total = sum(sum(c.values()) for c in SENT.values())
    server_errors = sum(n for c in SENT.values() for status, n in c.items() if status >= 500 and status != 503)
    lines = [f"{label}: {sum(c.values())} ({', '.join(f'{s}x{n}' for s, n in sorted(c.items()))}) "
             f"{SECONDS[label]:.1f} s"
             for label, c in sorted(SENT.items())]
    print(f"\nschemathesis: {total} requests over {len(operations)} operations, {server_errors} server errors\n"
          + "\n".join(lines))
    assert server_errors == 0
    assert total >= MIN_REQUESTS, f"only {total} requests: raise VIGIE_SCHEMATHESIS_EXAMPLES\n" + "\n".join(lines)
