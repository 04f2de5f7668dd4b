"""Recording a decision: the one place that changes a comment's status. Used by the worker (model and rule
decisions), the API override, the dashboard and the Coral integration, so the audit log and the outgoing
webhook never miss a change."""
from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from service.storage.models import AuditEntry, Comment, utcnow

STATUSES = ("pending", "approved", "flagged", "rejected")


def record_decision(session: Session, comment: Comment, status: str, actor: str, actor_name: str = "",
                    reasons: list[dict[str, Any]] | None = None, note: str | None = None, redis=None,
                    action: str | None = None) -> AuditEntry:
    """Set the comment's status, append an audit entry and notify the site. Does not commit."""
    if status not in STATUSES:
        raise ValueError(f"unknown status {status!r}")
    entry = AuditEntry(site_id=comment.site_id, comment_id=comment.id, actor=actor, actor_name=actor_name,
                       action=action or status, status_from=comment.status, status_to=status,
                       reasons=reasons or [], note=note)
    comment.status = status
    comment.decided_by = actor
    comment.decided_at = utcnow()
    session.add(entry)
    session.flush()
    from workers.notify import on_decided

    on_decided(session, redis, comment, entry)
    return entry
