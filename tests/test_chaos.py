"""The chaos suite's short form (issue 10): a real Vigie (gunicorn web, a `vigie worker`, a Redis server with an
append-only file) under a steady load survives a Redis crash-restart and a SIGKILLed web process: every accepted
comment is decided, none twice. Timings are printed by the suite, never asserted here; the full suite is
`python bench/chaos.py` (README)."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# A subset quick enough for the normal suite; VIGIE_CHAOS_SCENARIOS names others (see bench/chaos.py).
SCENARIOS = os.environ.get("VIGIE_CHAOS_SCENARIOS", "redis-restart,web-kill")


def test_short_chaos_loses_nothing_and_decides_each_comment_once(tmp_path, model_cache):
    out = tmp_path / "results.json"
    argv = [sys.executable, str(ROOT / "bench" / "chaos.py"), "--short", "--only", SCENARIOS, "--rate", "5",
            "--warm", "4", "--after", "6", "--json", str(out), "--log-dir", str(tmp_path / "logs")]
    if os.environ.get("VIGIE_TEST_DATABASE_URL"):  # the PostgreSQL pass: a fresh database per scenario
        argv += ["--database-url", os.environ["VIGIE_TEST_DATABASE_URL"]]
    env = dict(os.environ, VIGIE_MODEL_CACHE=str(model_cache))
    run = subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, text=True, timeout=1800)
    assert out.exists(), run.stdout[-3000:] + run.stderr[-3000:]
    results = json.loads(out.read_text())
    assert [r["scenario"] for r in results] == SCENARIOS.split(",")
    for result in results:
        assert result["accepted"] > 0, result
        assert result["decided"] == result["accepted"] and result["lost"] == 0, (result, run.stdout[-2000:])
        assert result["duplicated"] == 0, result
    assert run.returncode == 0, run.stdout[-3000:]
