"""Storing a comment that was scored synchronously (Coral, Perspective ``doNotStore: false``): its model result
and the site policy's decision, recorded through ``service.moderation.record_decision`` so the dashboard, the
audit log and the site's callback see it like any other decision."""
from __future__ import annotations

from sqlalchemy.orm import Session

from service.moderation import record_decision
from service.storage.models import Comment, ModelResult, Site, Status
from workers.policy import Decision, decide


def decide_scored(session: Session, site: Site, comment: Comment, scores: dict[str, float], model: str,
                  version: str, threshold: float | None, latency_ms: float, redis=None) -> Decision:
    """Attach the scores to a stored comment, apply the site's policy and record the decision (commits).
    A comment already decided meanwhile (a worker got to it first) keeps its decision."""
    session.refresh(comment)
    if comment.status != Status.pending.value:
        reasons = []
        if comment.result is not None:
            reasons = [{"kind": "score", "label": k, "score": v} for k, v in comment.result.scores.items()]
        return Decision(comment.status, comment.decided_by or "model", reasons)
    decision = decide(scores, comment.text, site.policy, threshold)
    session.add(ModelResult(comment_id=comment.id, scores=scores, model_name=model, model_version=version,
                            latency_ms=latency_ms))
    comment.score = scores.get("toxicity")
    record_decision(session, comment, decision.status, actor=decision.actor, actor_name=model,
                    reasons=decision.reasons, redis=redis)
    session.commit()
    return decision


def valid_text(text: str) -> bool:
    """False for text no database can store: NUL characters or unpaired UTF-16 surrogates."""
    if "\x00" in text:
        return False
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True
