"""API keys never reach a log: Perspective clients send ``?key=vg_...`` in the URL, and the access log of the real
server (``vigie web``, gunicorn) used to print every one of them."""
from __future__ import annotations

import logging
import os
import subprocess
import sys
import time

import requests

from core.connection import redis_url_for
from tests.test_cli import free_port


def test_vigie_web_access_log_holds_no_api_key(settings, site, tmp_path):
    port = free_port()
    env = {**os.environ, "VIGIE_DATABASE_URL": settings.resolved_database_url,
           "VIGIE_REDIS_URL": redis_url_for(settings), "VIGIE_DATA_DIR": str(settings.data_dir),
           "VIGIE_SECRET_KEY": "test-secret", "VIGIE_LOG_LEVEL": "INFO", "VIGIE_ACCESS_LOG": "true",
           # its own metrics directory: `vigie web` empties it at start (the test process counts in the session's)
           "VIGIE_METRICS_DIR": str(tmp_path / "metrics")}
    log_path = tmp_path / "web.log"
    with open(log_path, "wb") as log_file:
        process = subprocess.Popen([sys.executable, "-m", "core.cli", "web", "--no-migrate", "--port", str(port),
                                    "--workers", "1", "--threads", "2"], env=env, stdout=log_file,
                                   stderr=subprocess.STDOUT)
        base = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 90
            while True:
                assert process.poll() is None, log_path.read_text(errors="replace")[-3000:]
                try:
                    requests.get(f"{base}/healthz", timeout=2)
                    break
                except requests.RequestException:
                    assert time.monotonic() < deadline, "vigie web did not start"
                    time.sleep(0.3)
            key = site.api_key
            wrong = "vg_" + "W" * 43
            body = {"comment": {"text": "x"}, "requestedAttributes": {"NOT_AN_ATTRIBUTE": {}}}
            for url in (f"{base}/v1alpha1/comments:analyze?key={key}",
                        f"{base}/v1alpha1/comments:analyze?alt=json&key={key}&prettyPrint=false",
                        f"{base}/v1alpha1/comments:analyze?KEY={wrong}",
                        f"{base}/v1alpha1/comments:suggestscore?key={key}"):
                assert requests.post(url, json=body, timeout=10).status_code < 500
            assert requests.get(f"{base}/healthz?api_key={key}", timeout=10).status_code == 200
            requests.get(f"{base}/api/v1/comments", timeout=10,  # a referer that carries a key
                         headers={"Referer": f"https://intranet.example/tool?key={key}",
                                  "Authorization": f"Bearer {key}"})
        finally:
            process.terminate()
            process.wait(30)
    log = log_path.read_text(errors="replace")
    assert "comments:analyze" in log and "comments:suggestscore" in log, log[-3000:]  # the access log is on
    assert log.count("POST /v1alpha1/comments:analyze?") >= 3
    assert key not in log and wrong not in log and key[3:20] not in log
    assert "key=[redacted]" in log


def test_the_werkzeug_server_log_holds_no_api_key(app, caplog):
    """``flask run`` and the Werkzeug development server log their request lines through the ``werkzeug`` logger."""
    key = "vg_" + "S" * 43
    with caplog.at_level(logging.INFO, logger="werkzeug"):
        logging.getLogger("werkzeug").info('%s - - [%s] "%s" %s %s', "127.0.0.1", "now",
                                           f"POST /v1alpha1/comments:analyze?key={key} HTTP/1.1", 200, "-")
    assert caplog.records and key not in caplog.text and "key=[redacted]" in caplog.text
