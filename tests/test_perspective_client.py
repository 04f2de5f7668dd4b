"""Proof with a real Perspective client: the npm package ``perspective-api-client`` (3.1.0, unmodified; installed
into tests/node by ``npm ci --prefix tests/node``), run by node against Vigie served over real HTTP, gets French
scores and Perspective's error handling. The package has no base-URL option: tests/node/perspective_analyze.js
points the axios instance it posts through at Vigie (see docs/integrations.md)."""
from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
from sqlalchemy import func, select

from core.storage.models import Comment
from tests.integration_support import patient_budgets, serve, sync_worker

NODE_DIR = Path(__file__).parent / "node"
SCRIPT = NODE_DIR / "perspective_analyze.js"
TOXIC = "Ferme-la, espèce d'imbécile, personne ne veut lire tes conneries."
BENIGN = "Merci pour cet article très clair sur la réforme des retraites."


@pytest.fixture(scope="module")
def vigie_url(_app, settings):
    if shutil.which("node") is None or not (NODE_DIR / "node_modules" / "perspective-api-client").is_dir():
        pytest.fail("the npm Perspective client is not installed: run `npm ci --prefix tests/node`")
    with sync_worker(settings, _app.extensions["vigie"].redis), patient_budgets(settings), serve(_app) as url:
        yield url


def perspective_client(url: str, key: str, text: str, **options) -> dict:
    """Run the npm client (fixed argv, no shell; the comment travels on stdin)."""
    done = subprocess.run(["node", str(SCRIPT), url, key], input=json.dumps({"text": text, "options": options}),
                          capture_output=True, text=True, timeout=60, check=True)
    return json.loads(done.stdout)


def test_npm_client_gets_french_scores(app, site, db, vigie_url):
    toxic = perspective_client(vigie_url, site.api_key, TOXIC)
    benign = perspective_client(vigie_url, site.api_key, BENIGN)
    assert toxic["ok"] and benign["ok"], (toxic, benign)
    toxic_value = toxic["result"]["attributeScores"]["TOXICITY"]["summaryScore"]["value"]
    benign_value = benign["result"]["attributeScores"]["TOXICITY"]["summaryScore"]["value"]
    assert toxic_value > 0.5 > benign_value
    assert db.scalar(select(func.count()).select_from(Comment)) == 0  # the client sends doNotStore: true


def test_npm_client_with_several_attributes_and_html_stripped(app, site, vigie_url):
    answer = perspective_client(vigie_url, site.api_key, f"<p>{TOXIC}</p>",
                                attributes=["toxicity", "insult", "profanity", "threat"])
    assert answer["ok"], answer
    scores = answer["result"]["attributeScores"]
    assert set(scores) == {"TOXICITY", "INSULT", "PROFANITY", "THREAT"}
    assert scores["TOXICITY"]["spanScores"][0]["end"] == len(TOXIC)  # the client stripped the tags


def test_npm_client_reports_perspective_errors(app, site, vigie_url):
    wrong_key = perspective_client(vigie_url, "vg_not-a-key", BENIGN)
    assert not wrong_key["ok"] and wrong_key["status"] == 400
    assert wrong_key["message"] == "API key not valid. Please pass a valid API key."
    unknown = perspective_client(vigie_url, site.api_key, BENIGN, attributes=["flirtation"])
    assert unknown["status"] == 400 and "FLIRTATION does not support request languages" in unknown["message"]
    too_long = perspective_client(vigie_url, site.api_key, "é" * 10_241, validate=False)
    assert too_long["status"] == 400 and too_long["message"] == "Comment text too long."
