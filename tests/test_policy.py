"""A site's policy as moderators and admins rely on it: thresholds per label, banned words (rejected or flagged),
suspect words (flagged), allowed words (never flagged for that word), reasons recorded."""
from __future__ import annotations

from core.policy import LABELS, decide

CALM = dict.fromkeys(LABELS, 0.05)


def policy(**words):
    return {"words": {"banned": [], "suspect": [], "allowed": [], **words}}


def test_thresholds_flag_and_reject_with_the_scores_as_reasons():
    site = {"thresholds": {"toxicity": 0.7}, "reject_thresholds": {"threat": 0.9}}
    assert decide({**CALM, "toxicity": 0.69}, "texte", site).status == "approved"
    flagged = decide({**CALM, "toxicity": 0.7}, "texte", site)
    assert flagged.status == "flagged" and flagged.actor == "model"
    assert flagged.reasons == [{"kind": "score", "label": "toxicity", "score": 0.7, "threshold": 0.7}]
    assert decide({**CALM, "threat": 0.95}, "texte", site).status == "rejected"


def test_a_null_threshold_uses_the_models_own():
    assert decide({**CALM, "toxicity": 0.4}, "texte", {}, model_threshold=0.35).status == "flagged"
    assert decide({**CALM, "toxicity": 0.4}, "texte", {}, model_threshold=0.45).status == "approved"


def test_banned_words_reject_or_flag_and_suspect_words_flag():
    banned = decide(CALM, "Va te faire f0utre", {**policy(banned=["foutre"])})
    assert banned.status == "rejected" and banned.actor == "rule"
    assert banned.reasons[0] | {} == {"kind": "word", "list": "banned", "term": "foutre", "start": 12, "end": 18,
                                      "text": "f0utre"}
    assert decide(CALM, "Va te faire f0utre", {**policy(banned=["foutre"]), "banned_action": "flagged"}).status == "flagged"
    suspect = decide(CALM, "Quel A.B.R.U.T.I", policy(suspect=["abruti"]))
    assert suspect.status == "flagged" and suspect.reasons[0]["list"] == "suspect"


def test_allowed_words_are_never_flagged_for_that_word():
    site = policy(suspect=["con"], allowed=["con"])
    assert decide(CALM, "Quel con", site).status == "approved"
    phrase = policy(banned=["queue"], allowed=["queue de cheval"])
    assert decide(CALM, "Une jolie queue de cheval", phrase).status == "approved"
    assert decide(CALM, "Une queue", phrase).status == "rejected"
