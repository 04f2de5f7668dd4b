"""Helpers for the dashboard tests: arranging comments the way the worker leaves them (a comment, its model
result and the automatic decision recorded through record_decision), users, and logging in."""
from __future__ import annotations

import re
from typing import Any

from service.accounts import create_user
from service.moderation import record_decision
from service.storage.models import Comment, ModelResult
from workers.policy import LABELS

PASSWORD = "correct horse battery"


def add_user(app, username: str = "camille", role: str = "moderator") -> str:
    with app.extensions["vigie"].db.session() as session:
        create_user(session, username, PASSWORD, role)
    return username


def add_comment(session, site_id: int, text: str, *, score: float = 0.9, status: str = "flagged",
                actor: str = "model", reasons: list[dict[str, Any]] | None = None, spans: list | None = None,
                scores: dict[str, float] | None = None, **fields) -> Comment:
    """A scored comment with its automatic decision, as the worker stores it."""
    comment = Comment(site_id=site_id, text=text, score=score, **fields)
    session.add(comment)
    session.flush()
    label_scores = {label: round(score * (1.0 if label == "toxicity" else 0.5), 4) for label in LABELS}
    label_scores.update(scores or {})
    session.add(ModelResult(comment_id=comment.id, scores=label_scores, model_name="vigie-fr-toxicity",
                            model_version="test", latency_ms=12.0, spans=spans))
    if reasons is None:
        reasons = [{"kind": "score", "label": "toxicity", "score": score, "threshold": 0.5}] if status != "approved" else []
    record_decision(session, comment, status, actor=actor, reasons=reasons)
    return comment


def csrf_from(html: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', html) or re.search(
        r'name="csrf-token" content="([^"]+)"', html)
    assert match, "no CSRF token on the page"
    return match.group(1)


def login(client, username: str, password: str = PASSWORD) -> str:
    """Log in through the form; returns the session's CSRF token."""
    token = csrf_from(client.get("/login").text)
    response = client.post("/login", data={"username": username, "password": password, "csrf_token": token})
    assert response.status_code == 302, response.text
    return csrf_from(client.get("/").text)
