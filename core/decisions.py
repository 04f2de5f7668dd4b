"""Recording a decision: the one place that changes a comment's status, and the one path from a model's scores to
a decision. Used by the worker (model and rule decisions), the API override, the dashboard and the synchronous
integrations (Coral, Perspective), so the audit log and the outgoing webhook never miss a change."""
from __future__ import annotations

from datetime import timezone
from typing import Any

from sqlalchemy.orm import Session

from core import authors, metrics, outbox, policy, reports
from core.policy import Decision
from core.services import Services
from core.storage.models import AuditEntry, Comment, ModelResult, Site, utcnow
from core.vocabulary import STATUSES, Actor, Status


def record_decision(session: Session, comment: Comment, status: str, actor: str, actor_name: str = "",
                    reasons: list[dict[str, Any]] | None = None, note: str | None = None,
                    services: Services | None = None, action: str | None = None) -> AuditEntry:
    """Set the comment's status, append an audit entry and put the site's webhook event in the outbox (queued
    with ``services``' Redis once the transaction commits; without ``services`` the reconciler queues it).
    Does not commit."""
    if status not in STATUSES:
        raise ValueError(f"unknown status {status!r}")
    entry = AuditEntry(site_id=comment.site_id, comment_id=comment.id, actor=actor, actor_name=actor_name,
                       action=action or status, status_from=comment.status, status_to=status,
                       reasons=reasons or [], note=note)
    first = comment.status == Status.pending.value and comment.decided_at is None
    comment.status = status
    comment.decided_by = actor
    comment.decided_at = utcnow()
    _count(session, comment, status, actor, first)
    session.add(entry)
    session.flush()
    if services is None:
        outbox.on_decided(session, comment, entry, None, (), 0)
    else:
        settings = services.settings
        outbox.on_decided(session, comment, entry, services.redis, settings.webhook_retry_intervals,
                          settings.webhook_timeout_s)
    return entry


def _count(session: Session, comment: Comment, status: str, actor: str, first: bool) -> None:
    """Count the decision (and, for a comment's first one, its time since arrival) once the transaction commits."""
    waited = None
    if first and comment.received_at is not None and actor != "system":  # not an erasure before the decision
        received = comment.received_at
        if received.tzinfo is None:  # SQLite returns naive datetimes; they are stored as UTC
            received = received.replace(tzinfo=timezone.utc)
        waited = (comment.decided_at - received).total_seconds()
    source = comment.source or "api"
    metrics.count_after_commit(session, lambda: metrics.decided(status, source, actor, waited))


def apply_scores(session: Session, site: Site, comment: Comment, scores: dict[str, float], model_name: str,
                 model_version: str, threshold: float | None, latency_ms: float,
                 services: Services | None) -> Decision:
    """Store a pending comment's model result, decide it with its site's (cached, compiled) policy, made stricter by
    its author's standing (``core.authors.restrict``), and record the decision. Does not commit."""
    scores = {label: float(value) for label, value in scores.items()}
    decision = policy.compiled(site.id, site.policy, threshold).decide(scores, comment.text)
    decision = authors.restrict(session, comment, decision)  # a banned, suspended or pre-moderated author
    result = comment.result or ModelResult(comment_id=comment.id)
    result.scores = scores
    result.model_name = model_name
    result.model_version = model_version
    result.latency_ms = latency_ms
    result.threshold = threshold
    result.spans = None
    session.add(result)
    comment.score = scores.get("toxicity")
    record_decision(session, comment, decision.status, actor=decision.actor, actor_name=model_name,
                    reasons=decision.reasons, services=services)
    if comment.report_count:  # readers reported it while it waited for the model
        flag_if_reported(session, comment, services)
    return decision


def flag_if_reported(session: Session, comment: Comment, services: Services | None = None) -> bool:
    """Flag a comment approved automatically once readers' reports reach its site's threshold (core.reports);
    recorded as actor ``system``, name ``reports``. Does not commit."""
    site = comment.site or session.get(Site, comment.site_id)
    if not reports.should_flag(comment, site):
        return False
    reason = reports.reports_reason(session, comment, reports.threshold_of(site))
    record_decision(session, comment, Status.flagged.value, actor=Actor.system.value,
                    actor_name=reports.REPORTS_ACTOR_NAME, reasons=[reason], services=services)
    return True


def report_comment(session: Session, comment: Comment, body: reports.ReportIn, source: str,
                   services: Services | None = None) -> reports.Outcome:
    """A reader's report (idempotent per reporter), then the site's threshold applied. Commits."""
    outcome = reports.add_report(session, comment, body, source)
    if outcome.created:
        outcome.flagged = flag_if_reported(session, comment, services)
    session.commit()
    return outcome


def decide_scored(session: Session, site: Site, comment: Comment, scores: dict[str, float], model: str,
                  version: str, threshold: float | None, latency_ms: float, services: Services) -> Decision:
    """A comment scored synchronously (Coral, Perspective ``doNotStore: false``): attach the scores, decide and
    record (commits). A comment already decided meanwhile (a worker got to it first) keeps its decision."""
    session.refresh(comment)
    if comment.status != Status.pending.value:
        reasons = []
        if comment.result is not None:
            reasons = [{"kind": "score", "label": k, "score": v} for k, v in comment.result.scores.items()]
        return Decision(comment.status, comment.decided_by or "model", reasons)
    decision = apply_scores(session, site, comment, scores, model, version, threshold, latency_ms, services)
    session.commit()
    return decision
