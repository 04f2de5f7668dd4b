"""Contract test: every answer Vigie can give Coral's external moderation phase passes Coral's own response
schema (restated in tests/node/coral_response_schema.js and run with the real `joi` package, as Coral does).
An answer that fails it is discarded whole by Coral, as if Vigie had no opinion."""
from __future__ import annotations

import itertools
import json
import shutil
import subprocess
from pathlib import Path
from types import SimpleNamespace

import pytest

from service.integrations.coral import CORAL_STATUSES, coral_response

NODE_DIR = Path(__file__).parent / "node"
SCRIPT = NODE_DIR / "coral_response_schema.js"


def coral_validate(answers: list[dict]) -> list[dict]:
    """Coral's verdict on each answer: {"ok": True, "value": what Coral keeps} or {"ok": False, "error"}."""
    if shutil.which("node") is None or not (NODE_DIR / "node_modules" / "joi").is_dir():
        pytest.fail("joi is not installed: run `npm ci --prefix tests/node`")
    done = subprocess.run(["node", str(SCRIPT)], input=json.dumps(answers), capture_output=True, text=True,
                          timeout=60, check=True)
    return json.loads(done.stdout)


SCORE = {"kind": "score", "label": "toxicity", "score": 0.93, "threshold": 0.5}
BANNED = {"kind": "word", "list": "banned", "term": "margoulin", "start": 5, "end": 14, "text": "margoulin"}
SUSPECT = {"kind": "word", "list": "suspect", "term": "idiot", "start": 0, "end": 5, "text": "idiot"}
REASON_SETS = [[], [SCORE], [BANNED], [SUSPECT], [BANNED, SUSPECT], [SCORE, BANNED, SUSPECT], [SCORE, SUSPECT]]
POLICIES = [{}, {"coral_statuses": None}, {"coral_statuses": {"approved": None}},
            {"coral_statuses": {"rejected": "PREMOD", "flagged": "PREMOD"}},
            {"coral_statuses": {"flagged": "NONE", "rejected": "SYSTEM_WITHHELD", "approved": "NONE"}},
            {"coral_statuses": {"flagged": "not-a-coral-status", "rejected": 42, "approved": ["APPROVED"]}},
            {"coral_statuses": ["REJECTED"]}, {"coral_statuses": "PREMOD"}]
POLICIES += [{"coral_statuses": {status: coral for status in ("approved", "flagged", "rejected")}}
             for coral in sorted(CORAL_STATUSES)]


def test_the_schema_refuses_what_coral_refuses():
    """The contract can fail: the word-list reasons Vigie used to send are refused, as in Coral."""
    verdicts = coral_validate([
        {"actions": [{"actionType": "FLAG", "reason": "COMMENT_DETECTED_BANNED_WORD"}], "status": "REJECTED"},
        {"status": "FLAGGED"},
        {"actions": [{"actionType": "DONTAGREE", "reason": "COMMENT_DETECTED_TOXIC"}]},
        {"actions": [{"reason": "COMMENT_DETECTED_TOXIC"}]},
        {"actions": [{"actionType": "FLAG", "reason": "COMMENT_DETECTED_SPAM"}], "status": "SYSTEM_WITHHELD",
         "unknown": 1},
    ])
    assert [v["ok"] for v in verdicts] == [False, False, False, False, True]
    assert "unknown" not in verdicts[4]["value"]  # stripUnknown, as Coral validates


def test_every_answer_vigie_can_give_passes_corals_schema():
    answers, cases = [], []
    for policy, status, reasons in itertools.product(POLICIES, ("approved", "flagged", "rejected", "pending"),
                                                     REASON_SETS):
        site = SimpleNamespace(policy=policy)
        answers.append(coral_response(site, status, reasons))
        cases.append((policy, status, reasons))
    verdicts = coral_validate(answers)
    for case, answer, verdict in zip(cases, answers, verdicts):
        assert verdict["ok"], (case, answer, verdict)
        assert verdict["value"] == answer  # Coral keeps all of it: nothing Vigie says is stripped
        policy, status, reasons = case
        if status in ("flagged", "rejected"):
            assert answer["actions"] == [{"actionType": "FLAG", "reason": "COMMENT_DETECTED_TOXIC"}]
        else:
            assert answer["actions"] == []


def test_word_list_hits_still_withhold_the_comment_in_coral():
    site = SimpleNamespace(policy={})
    (verdict,) = coral_validate([coral_response(site, "flagged", [BANNED])])
    assert verdict == {"ok": True, "value": {"actions": [{"actionType": "FLAG", "reason": "COMMENT_DETECTED_TOXIC"}],
                                             "status": "SYSTEM_WITHHELD"}}
