"""Helpers for the dashboard tests: arranging comments the way the worker leaves them (a comment, its model
result and the automatic decision recorded through record_decision), users, and logging in."""
from __future__ import annotations

import re
from typing import Any

from service.accounts import create_user
from core.decisions import record_decision
from sqlalchemy import select

from core.storage.models import AuditEntry, Comment, ModelResult
from core.vocabulary import LABELS

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


DEMO_COMMENTS = [
    # (text, toxicity, status, author, word hit, model span)
    ("Espèce d'abruti, tu n'as rien compris à l'article. Retourne à l'école avant de commenter.", 0.91, "flagged",
     "Marc_75", None, "abruti"),
    ("Ce ministre est un incapable et un menteur, qu'il dégage !", 0.71, "flagged", "citoyen_en_colere", None,
     "incapable"),
    ("Encore un article écrit par un journaliste vendu. Quelle m e r d e ce torchon.", 0.84, "flagged", "Marc_75",
     "m e r d e", "torchon"),
    ("Les gens comme vous devraient être renvoyés chez eux.", 0.77, "flagged", "patriote1789", None, "renvoyés"),
    ("Je vais te retrouver et tu vas le regretter.", 0.88, "flagged", "anonyme_42", None, "regretter"),
    ("Franchement c'est n'importe quoi, la réforme des retraites est une arnaque complète.", 0.52, "flagged",
     "Sophie.L", None, "arnaque"),
    ("Bande de cons, vous ne savez pas lire ?", 0.93, "rejected", "Marc_75", "cons", "cons"),
    ("Merci pour cet article très complet sur la rénovation énergétique.", 0.02, "approved", "Claire_D", None, None),
    ("Je ne suis pas d'accord avec l'auteur, mais l'analyse des chiffres est intéressante.", 0.04, "approved",
     "Sophie.L", None, None),
    ("Quelqu'un sait si la ligne 14 sera prolongée avant les JO ?", 0.01, "approved", "Thomas R.", None, None),
    ("Très bon reportage, bravo à la rédaction.", 0.01, "approved", "Claire_D", None, None),
]


def arrange_demo(session, site_id: int) -> list[Comment]:
    """A realistic set of French comments (several authors, a reply, word-list hits and model spans, some
    moderator decisions) for screenshots and page checks."""
    from datetime import datetime, timedelta, timezone

    now = datetime.now(timezone.utc)
    made = []
    for i, (text, tox, status, author, word, span) in enumerate(DEMO_COMMENTS * 2):
        reasons = None
        if word:
            start = text.index(word)
            reasons = [{"kind": "word", "list": "suspect", "term": word.replace(" ", ""), "start": start,
                        "end": start + len(word), "text": word},
                       {"kind": "score", "label": "toxicity", "score": tox, "threshold": 0.5}]
        spans = None
        if span:
            start = text.index(span)
            spans = [{"start": start, "end": start + len(span), "text": span, "weight": round(tox / 2, 2)}]
        second = i >= len(DEMO_COMMENTS)
        scores = {"insult": round(tox * 0.9, 3), "obscene": round(tox * (0.8 if word else 0.3), 3),
                  "threat": round(tox * (0.95 if "regretter" in text else 0.1), 3),
                  "identity_attack": round(tox * (0.9 if "chez eux" in text else 0.1), 3),
                  "severe_toxicity": round(tox * 0.4, 3)}
        comment = add_comment(session, site_id, text, score=tox, status=status if not second else
                              ("approved" if tox < 0.5 else status), actor="rule" if word else "model",
                              reasons=reasons, spans=spans, scores=scores, author_id=author.lower(),
                              author_name=author, thread_id="reforme-des-retraites" if i % 2 else "jo-2024-bilan",
                              thread_url=f"https://www.example-journal.fr/politique/article-{1000 + i % 3}",
                              external_id=f"demo-{i}", parent_id="demo-8" if i == 1 else None, language="fr")
        comment.received_at = now - timedelta(days=(i * 5) % 12, hours=i)
        if second and status == "flagged":
            record_decision(session, comment, "approved" if i % 3 else "rejected", actor="moderator",
                            actor_name="camille")
        for n, entry in enumerate(session.scalars(select(AuditEntry).where(AuditEntry.comment_id == comment.id)
                                                  .order_by(AuditEntry.id))):
            entry.created_at = comment.received_at + timedelta(seconds=1, hours=3 * n)
        made.append(comment)
    session.flush()
    return made
