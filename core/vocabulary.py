"""The domain's words, each defined once: comment statuses, who decides (actors), the model's labels, the shapes
of a decision's reasons and the states of an outgoing webhook delivery. Storage, policy, the API, the dashboard and
the model all import them from here."""
from __future__ import annotations

import enum
from typing import Any


class Status(str, enum.Enum):
    pending = "pending"
    approved = "approved"
    flagged = "flagged"
    rejected = "rejected"


STATUSES = tuple(s.value for s in Status)


class Actor(str, enum.Enum):
    model = "model"
    rule = "rule"
    moderator = "moderator"
    admin = "admin"
    system = "system"


# The labels every Vigie model scores, in the order of its output head.
LABELS = ("toxicity", "severe_toxicity", "obscene", "threat", "insult", "identity_attack")

# Outgoing webhook delivery states.
DELIVERY_STATES = ("pending", "delivered", "failed")


# Reasons recorded with a decision (``AuditEntry.reasons``; sent in the webhook event, shown by the dashboard):
#   {"kind": "score", "label", "score", "threshold"}                       a label at or above its threshold
#   {"kind": "word", "list": "banned"|"suspect", "term", "start", "end", "text"}   a word-list hit
#   {"kind": "reason", "text"}                                              a moderator's reason (API or dashboard)
#   {"kind": "reports", "count", "threshold", "reasons": {reason: n}}     readers' reports reached the site's
#                                                                           threshold (core.reports)
#   {"kind": "explanation", "text"}                                         a moderator's free-text explanation of a
#                                                                           rejection, for the author (dashboard)
#   {"kind": "author", "author_id", "standing"?, "until"?}                  the author's standing decided it (standing:
#                                                                           banned, suspended, premoderated; see
#                                                                           core.authors), or an action on an author
#                                                                           (audit log, core.author_actions)
def score_reason(label: str, score: float, threshold: float) -> dict[str, Any]:
    return {"kind": "score", "label": label, "score": score, "threshold": threshold}


def word_reason(list_name: str, term: str, start: int, end: int, text: str) -> dict[str, Any]:
    return {"kind": "word", "list": list_name, "term": term, "start": start, "end": end, "text": text}


def moderator_reason(text: str) -> dict[str, Any]:
    return {"kind": "reason", "text": text}


def explanation_reason(text: str) -> dict[str, Any]:
    return {"kind": "explanation", "text": text}


def author_reason(author_id: str, standing: str | None = None, until: str | None = None) -> dict[str, Any]:
    reason: dict[str, Any] = {"kind": "author", "author_id": author_id}
    if standing:
        reason["standing"] = standing
    if until:
        reason["until"] = until
    return reason
