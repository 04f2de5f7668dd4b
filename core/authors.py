"""Authors as a site knows them (the author id it sends with each comment): their standing on that site (ban,
suspension, pre-moderation, warnings), what that standing does to their new comments, and what the dashboard and
the API read about them. Moderators change a standing through ``core.author_actions``.

What Vigie does with a new comment of a restricted author (``restrict``, called by
``core.decisions.apply_scores``: every comment scored by a worker, Coral or the Perspective API goes through it,
so this is the one place the rule lives):

- **banned**, or **suspended** until a later time: the comment is **rejected**, whatever the model says (the comment
  system should refuse it already; one that still arrives is never published). Reason
  ``{"kind": "author", "author_id", "standing": "banned"}`` (or ``"suspended"`` with ``"until"``).
- **pre-moderated**: the comment is held **flagged** for a moderator, whatever the score; a comment the site's
  policy rejects stays rejected (the stricter decision wins). Reason ``standing: "premoderated"``.

Such a decision's actor is ``system`` (not the model): the model's own reasons follow the author's. A moderator can
still approve the comment in the dashboard. Comments that arrived before the action keep their decision (a bulk
"reject this author's waiting comments" is a separate action).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from core.policy import Decision
from core.storage.models import AuthorAction, AuthorStanding, Comment, utcnow
from core.vocabulary import STATUSES, Actor, Status, author_reason

RECENT_ACTIONS = 20


def aware(value: datetime | None) -> datetime | None:
    """SQLite gives back naive datetimes; they are stored as UTC."""
    if value is not None and value.tzinfo is None:
        return value.replace(tzinfo=timezone.utc)
    return value


def iso(value: datetime | None) -> str | None:
    value = aware(value)
    return value.isoformat() if value is not None else None


def standing_of(session: Session, site_id: int, author_id: str) -> AuthorStanding | None:
    return session.scalar(select(AuthorStanding).where(AuthorStanding.site_id == site_id,
                                                       AuthorStanding.author_id == author_id))


def suspended(standing: AuthorStanding | None, at: datetime | None = None) -> bool:
    until = aware(standing.suspended_until) if standing is not None else None
    return until is not None and until > (at or utcnow())


def restriction(standing: AuthorStanding | None, at: datetime | None = None) -> tuple[str, dict[str, Any]] | None:
    """(status, reason) the standing imposes on a new comment, or None: see the module's rule."""
    if standing is None:
        return None
    if standing.banned:
        return Status.rejected.value, author_reason(standing.author_id, "banned")
    if suspended(standing, at):
        return Status.rejected.value, author_reason(standing.author_id, "suspended", iso(standing.suspended_until))
    if standing.premoderated:
        return Status.flagged.value, author_reason(standing.author_id, "premoderated")
    return None


_STRICTNESS = {Status.approved.value: 0, Status.flagged.value: 1, Status.rejected.value: 2}


def restrict(session: Session, comment: Comment, decision: Decision) -> Decision:
    """The policy's decision on a new comment, made stricter by its author's standing (never looser)."""
    if not comment.author_id:
        return decision
    found = restriction(standing_of(session, comment.site_id, comment.author_id))
    if found is None:
        return decision
    status, reason = found
    if _STRICTNESS.get(decision.status, 0) > _STRICTNESS[status]:  # the policy already rejects it
        return Decision(decision.status, decision.actor, decision.reasons + [reason])
    return Decision(status, Actor.system.value, [reason] + decision.reasons)


# ------------------------------------------------------------------------------------------------- reading
def standing_json(standing: AuthorStanding | None, at: datetime | None = None) -> dict[str, Any]:
    """The standing as the API and the events give it (an author without a row has no restriction)."""
    if standing is None:
        return {"banned": False, "banned_at": None, "suspended": False, "suspended_until": None,
                "premoderated": False, "warnings": 0}
    is_suspended = suspended(standing, at)
    return {"banned": bool(standing.banned), "banned_at": iso(standing.banned_at) if standing.banned else None,
            "suspended": is_suspended, "suspended_until": iso(standing.suspended_until) if is_suspended else None,
            "premoderated": bool(standing.premoderated), "warnings": standing.warnings or 0}


def action_json(action: AuthorAction) -> dict[str, Any]:
    return {"id": action.id, "action": action.action, "until": iso(action.until), "reason": action.reason,
            "moderator": action.actor_name, "created_at": iso(action.created_at), "reverts": action.reverts_id,
            "reverted_at": iso(action.reverted_at), "comments": action.comment_count}


def counts(session: Session, site_id: int, author_id: str) -> dict[str, int]:
    """The author's comments on the site per status, and ``total``."""
    rows = session.execute(select(Comment.status, func.count()).where(
        Comment.site_id == site_id, Comment.author_id == author_id).group_by(Comment.status)).all()
    out = {status: 0 for status in STATUSES}
    out.update({status: n for status, n in rows})
    out["total"] = sum(n for _, n in rows)
    return out


def actions(session: Session, site_id: int, author_id: str, limit: int = RECENT_ACTIONS) -> list[AuthorAction]:
    """The author's action history, newest first."""
    return list(session.scalars(select(AuthorAction).where(
        AuthorAction.site_id == site_id, AuthorAction.author_id == author_id)
        .order_by(AuthorAction.id.desc()).limit(limit)))


def latest_name(session: Session, site_id: int, author_id: str) -> str | None:
    """The display name the author's latest comment came with."""
    return session.scalar(select(Comment.author_name).where(
        Comment.site_id == site_id, Comment.author_id == author_id, Comment.author_name.is_not(None))
        .order_by(Comment.id.desc()).limit(1))


@dataclass
class AuthorSummary:
    author_id: str
    name: str | None
    standing: AuthorStanding | None
    counts: dict[str, int]
    actions: list[AuthorAction] = field(default_factory=list)

    @property
    def known(self) -> bool:
        return bool(self.counts["total"] or self.standing is not None or self.actions)


def summary_json(site_slug: str, found: AuthorSummary, at: datetime | None = None) -> dict[str, Any]:
    """What ``GET /api/v1/authors/<id>`` answers."""
    return {"id": found.author_id, "site": site_slug, "name": found.name, "standing": standing_json(found.standing, at),
            "counts": found.counts, "recent_actions": [action_json(a) for a in found.actions]}


def summary(session: Session, site_id: int, author_id: str, recent: int = RECENT_ACTIONS) -> AuthorSummary:
    return AuthorSummary(author_id, latest_name(session, site_id, author_id), standing_of(session, site_id, author_id),
                         counts(session, site_id, author_id), actions(session, site_id, author_id, recent))
