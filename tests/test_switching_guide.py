"""docs/integrations.md, "Switching from Perspective": every snippet marked ``<!-- tested: NAME -->`` is run as
written (bash, python, node) against a live Vigie over real HTTP, with only VIGIE_URL, VIGIE_KEY (and SECRET for
Coral) set, as a reader would set them."""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from core.keys import create_site
from tests.integration_support import patient_budgets, serve, sync_worker

DOC = Path(__file__).parent.parent / "docs" / "integrations.md"
NODE_DIR = Path(__file__).parent / "node"
_SNIPPET = re.compile(r"<!-- tested: ([\w-]+) -->\n```(\w+)\n(.*?)\n```", re.S)


def snippets() -> dict[str, tuple[str, str]]:
    return {name: (lang, code) for name, lang, code in _SNIPPET.findall(DOC.read_text(encoding="utf-8"))}


@pytest.fixture(scope="module")
def vigie_url(_app, settings):
    with sync_worker(settings, _app.extensions["vigie"].redis), patient_budgets(settings), serve(_app) as url:
        yield url


def run(name: str, env: dict[str, str], tmp_path: Path) -> str:
    lang, code = snippets()[name]
    full_env = {**os.environ, **env}
    if lang == "sh":
        command = ["bash", "-euo", "pipefail", "-c", code]
        cwd = tmp_path
    elif lang == "python":
        command, cwd = [sys.executable, "-c", code], tmp_path
    elif lang == "js":
        script = NODE_DIR / f".guide-{name}-{os.getpid()}.js"  # inside tests/node, so require() finds its modules
        script.write_text(code, encoding="utf-8")
        command, cwd = ["node", str(script)], NODE_DIR
    else:
        raise AssertionError(f"no runner for {lang}")
    try:
        done = subprocess.run(command, env=full_env, cwd=cwd, capture_output=True, text=True, timeout=120)
    finally:
        if lang == "js":
            script.unlink(missing_ok=True)
    assert done.returncode == 0, (name, done.stdout[-2000:], done.stderr[-2000:])
    return done.stdout


def test_the_guide_has_a_tested_snippet_per_client():
    assert set(snippets()) == {"raw-http", "python-discovery", "npm", "coral"}


@pytest.mark.parametrize("name", ["raw-http", "python-discovery", "npm"])
def test_perspective_client_snippet_scores_the_french_insult(name, app, site, vigie_url, tmp_path):
    out = run(name, {"VIGIE_URL": vigie_url, "VIGIE_KEY": site.api_key}, tmp_path)
    if name == "raw-http":
        value = json.loads(out)["attributeScores"]["TOXICITY"]["summaryScore"]["value"]
    else:
        value = float(out.strip())
    assert value > 0.5


def test_npm_snippet_needs_the_clients_own_axios():
    """Where the app has its own axios (as tests/node does), require('axios') is not the client's copy: the doc's
    former snippet would have left the client posting to Google."""
    done = subprocess.run(["node", "-e", "const a = require('axios');"
                           "const b = require(require.resolve('axios', {paths: [require.resolve('perspective-api-client')]}));"
                           "console.log(a === b)"], cwd=NODE_DIR, capture_output=True, text=True, timeout=60)
    assert done.stdout.strip() == "false", done.stderr


def test_coral_snippet_gets_a_decision(app, vigie_url, tmp_path):
    with app.extensions["vigie"].db.session() as session:
        _, _, secret = create_site(session, "lemonde")
    out = run("coral", {"VIGIE_URL": vigie_url, "SECRET": secret}, tmp_path)
    assert json.loads(out) == {"actions": [], "status": "APPROVED"}
