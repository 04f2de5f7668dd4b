"""Google's discovery-based client (``google-api-python-client``) against a live Vigie over real HTTP: Google's
documented Perspective sample runs with only its key and its discovery URL changed, as a user would change them,
and suggestscore and errors (``HttpError``) behave as with Google's service."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest
import requests

from tests.integration_support import patient_budgets, serve, sync_worker

# Google's Python sample for Perspective (developers.perspectiveapi.com, "Get started", Python), verbatim.
GOOGLE_SAMPLE = '''
from googleapiclient import discovery
import json

API_KEY = 'copy-your-api-key-here'

client = discovery.build(
  "commentanalyzer",
  "v1alpha1",
  developerKey=API_KEY,
  discoveryServiceUrl="https://commentanalyzer.googleapis.com/$discovery/rest?version=v1alpha1",
  static_discovery=False,
)

analyze_request = {
  'comment': { 'text': 'friendly greetings from python' },
  'requestedAttributes': {'TOXICITY': {}}
}

response = client.comments().analyze(body=analyze_request).execute()
print(json.dumps(response, indent=2))
'''

# The same client used the way Perspective's docs describe suggestscore and error handling.
MORE_CALLS = '''
from googleapiclient import discovery
from googleapiclient.errors import HttpError
import json, sys

API_KEY = 'copy-your-api-key-here'

client = discovery.build(
  "commentanalyzer",
  "v1alpha1",
  developerKey=API_KEY,
  discoveryServiceUrl="https://commentanalyzer.googleapis.com/$discovery/rest?version=v1alpha1",
  static_discovery=False,
)
out = {}
out["fr"] = client.comments().analyze(body={
  'comment': {'text': sys.argv[1]}, 'languages': ['fr'], 'doNotStore': True,
  'requestedAttributes': {'TOXICITY': {}, 'INSULT': {}}}).execute()
out["suggest"] = client.comments().suggestscore(body={
  'comment': {'text': sys.argv[1]}, 'clientToken': 'mod-7',
  'attributeScores': {'TOXICITY': {'summaryScore': {'value': 1.0}}}}).execute()
try:
  client.comments().analyze(body={'comment': {'text': ''}, 'requestedAttributes': {'TOXICITY': {}}}).execute()
except HttpError as e:
  out["error"] = {"status": e.status_code, "reason": e.reason, "details": e.error_details}
print(json.dumps(out))
'''

TOXIC = "Ferme-la, espèce d'imbécile, personne ne veut lire tes conneries."


@pytest.fixture(scope="module")
def vigie_url(_app, settings):
    with sync_worker(settings, _app.extensions["vigie"].redis), patient_budgets(settings), serve(_app) as url:
        yield url


def run_as_user(sample: str, vigie_url: str, key: str, *args: str) -> dict:
    """What a user switching from Perspective does: put in a Vigie key and Vigie's address instead of Google's."""
    code = sample.replace("copy-your-api-key-here", key).replace("https://commentanalyzer.googleapis.com", vigie_url)
    assert code.count(vigie_url) == 1
    done = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout)


def test_googles_sample_runs_unchanged(app, site, vigie_url):
    response = run_as_user(GOOGLE_SAMPLE, vigie_url, site.api_key)
    score = response["attributeScores"]["TOXICITY"]["summaryScore"]
    assert score["type"] == "PROBABILITY" and 0 <= score["value"] < 0.5
    assert response["languages"] == ["en"] and response["detectedLanguages"] == ["en"]


def test_discovery_client_scores_french_suggests_scores_and_raises_http_error(app, site, vigie_url):
    out = run_as_user(MORE_CALLS, vigie_url, site.api_key, TOXIC)
    assert out["fr"]["attributeScores"]["TOXICITY"]["summaryScore"]["value"] > 0.5
    assert set(out["fr"]["attributeScores"]) == {"TOXICITY", "INSULT"}
    assert out["suggest"]["clientToken"] == "mod-7"
    error = out["error"]
    assert error["status"] == 400 and error["reason"] == "Comment must be non-empty."
    assert error["details"][0]["errorType"] == "COMMENT_EMPTY"


def test_discovery_document_names_vigie_and_its_methods(app, vigie_url, settings, monkeypatch):
    doc = requests.get(f"{vigie_url}/$discovery/rest", params={"version": "v1alpha1"}, timeout=10).json()
    assert doc["rootUrl"] == f"{vigie_url}/" and doc["name"] == "commentanalyzer"
    assert set(doc["resources"]["comments"]["methods"]) == {"analyze", "suggestscore"}
    monkeypatch.setattr(settings, "public_url", "https://vigie.example")
    doc = requests.get(f"{vigie_url}/discovery/v1/apis/commentanalyzer/v1alpha1/rest", timeout=10).json()
    assert doc["rootUrl"] == "https://vigie.example/"
    missing = requests.get(f"{vigie_url}/$discovery/rest", params={"version": "v1"}, timeout=10)
    assert missing.status_code == 404 and missing.json()["error"]["status"] == "NOT_FOUND"
