"""What a moderator does about an author of a site: ban, suspend for N days, pre-moderate, warn, write a private
note, lift or withdraw any of those, and reject every comment of theirs still waiting.

Each action, in the caller's transaction (the caller commits):
- changes the author's standing (``AuthorStanding``; read by ``core.authors.restrict`` on their next comments),
- appends a row to the author's history (``AuthorAction``; a reversal is a new row, the history stays),
- appends an audit log entry (action ``author_<action>``, the reason as its note, an ``author`` reason naming them),
- and puts a signed ``author.action`` event for the site's callback URL in the outbox (``core.outbox.add_event``:
  the same signed delivery, retries and address guard as ``comment.decided``), so the comment system can enforce it.

Event body::

    {"event": "author.action", "delivery_id": 9, "site": "lemonde", "created_at": "2026-12-01T21:05:00+00:00",
     "author": {"id": "u-42", "name": "Marc_75"},
     "action": "suspend", "action_id": 3, "until": "2026-12-08T21:05:00+00:00", "reason": "Insultes répétées",
     "moderator": "camille", "reverts": null,
     "standing": {"banned": false, "banned_at": null, "suspended": true, "suspended_until": "2026-12-08T21:05:00+00:00",
                  "premoderated": false, "warnings": 0}}

Problems are ``AuthorActionError`` with a stable ``code`` (the dashboard words it in the moderator's language).
"""
from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from core import authors, outbox
from core.decisions import record_decision
from core.services import Services
from core.storage.models import AuditEntry, AuthorAction, AuthorStanding, Comment, Site, utcnow
from core.vocabulary import Status, author_reason, explanation_reason, moderator_reason

# The reversals (lift, withdraw) point at the action they revert.
ACTIONS = ("ban", "suspend", "premoderate", "warn", "note")
REVERSALS = {"unban": "ban", "unsuspend": "suspend", "unpremoderate": "premoderate",
             "withdraw_warning": "warn", "delete_note": "note"}
REJECT_WAITING = "reject_waiting"  # bulk: every comment of theirs still pending or flagged
ALL_ACTIONS = ACTIONS + tuple(REVERSALS) + (REJECT_WAITING,)
NEEDS_REASON = ("warn", "note")  # the warning's message, the note's text
MAX_SUSPENSION_DAYS = 365
MAX_REASON_CHARS = 2000
MAX_BULK = 1000  # comments rejected by one bulk action (run it again for more)
WAITING = (Status.pending.value, Status.flagged.value)


class AuthorActionError(ValueError):
    """An action that cannot be done; ``code`` is one of: unknown_author, unknown_action, reason_required,
    reason_invalid, reason_too_long, bad_days, already, not_in_force, no_such_action, unknown_reason,
    nothing_waiting, conflict (another moderator acted on the same author at the same moment: roll back, retry)."""

    def __init__(self, code: str, detail: str = ""):
        super().__init__(f"{code}: {detail}" if detail else code)
        self.code = code


def _audit_action(action: str) -> str:
    return f"author_{action}"


def _standing(session: Session, site_id: int, author_id: str) -> tuple[AuthorStanding, bool]:
    """The author's standing row, locked for this transaction on PostgreSQL (two moderators acting on one author
    at once act one after the other), or a new one not yet added (``_insert`` it once the action is valid).
    Returns (standing, exists)."""
    stmt = select(AuthorStanding).where(AuthorStanding.site_id == site_id, AuthorStanding.author_id == author_id)
    standing = session.scalar(stmt.with_for_update())
    if standing is not None:
        return standing, True
    return AuthorStanding(site_id=site_id, author_id=author_id, banned=False, premoderated=False, warnings=0), False


def _insert(session: Session, standing: AuthorStanding) -> None:
    session.add(standing)
    try:
        session.flush()
    except IntegrityError as exc:  # another moderator's first action on this author committed meanwhile
        raise AuthorActionError("conflict") from exc


def _latest_in_force(session: Session, site_id: int, author_id: str, action: str,
                     target_id: int | None = None) -> AuthorAction | None:
    stmt = select(AuthorAction).where(AuthorAction.site_id == site_id, AuthorAction.author_id == author_id,
                                      AuthorAction.action == action, AuthorAction.reverted_at.is_(None))
    if target_id is not None:
        stmt = stmt.where(AuthorAction.id == target_id)
    return session.scalar(stmt.order_by(AuthorAction.id.desc()).limit(1))


def _clean_reason(reason: str | None) -> str | None:
    reason = (reason or "").strip()
    if "\x00" in reason:
        raise AuthorActionError("reason_invalid")
    if len(reason) > MAX_REASON_CHARS:
        raise AuthorActionError("reason_too_long")
    return reason or None


def author_event(site: Site, action: AuthorAction, standing: AuthorStanding | None, name: str | None) -> dict[str, Any]:
    """The ``author.action`` event body (without ``delivery_id``)."""
    return {"event": outbox.EVENT_AUTHOR, "site": site.slug, "created_at": authors.iso(action.created_at),
            "author": {"id": action.author_id, "name": name},
            "action": action.action, "action_id": action.id, "until": authors.iso(action.until),
            "reason": action.reason, "moderator": action.actor_name, "reverts": action.reverts_id,
            "standing": authors.standing_json(standing)}


def _record(session: Session, site: Site, author_id: str, action: str, *, actor: str, actor_name: str,
            reason: str | None, until=None, reverts: AuthorAction | None = None, comment_count: int | None = None,
            standing: AuthorStanding | None = None, services: Services | None = None, notify: bool = True
            ) -> AuthorAction:
    now = utcnow()
    row = AuthorAction(site_id=site.id, author_id=author_id, action=action, until=until, reason=reason, actor=actor,
                       actor_name=actor_name, reverts_id=reverts.id if reverts else None,
                       comment_count=comment_count, created_at=now)
    if reverts is not None:
        reverts.reverted_at = now
    session.add(row)
    session.add(AuditEntry(site_id=site.id, comment_id=None, actor=actor, actor_name=actor_name,
                           action=_audit_action(action), reasons=[author_reason(author_id, until=authors.iso(until))],
                           note=reason, created_at=now))
    session.flush()
    if notify:
        settings = services.settings if services is not None else None
        outbox.add_event(session, site, outbox.EVENT_AUTHOR,
                         author_event(site, row, standing if standing is not None else
                                      authors.standing_of(session, site.id, author_id),
                                      authors.latest_name(session, site.id, author_id)),
                         services.redis if services is not None else None,
                         settings.webhook_retry_intervals if settings else (),
                         settings.webhook_timeout_s if settings else 0)
    return row


def act(session: Session, site: Site, author_id: str, action: str, *, actor: str, actor_name: str,
        reason: str | None = None, days: int | None = None, target_id: int | None = None,
        services: Services | None = None) -> AuthorAction:
    """Do one action (``ACTIONS`` or ``REVERSALS``) on the author; see the module. Does not commit.
    ``days``: a suspension's length (1 to 365). ``target_id``: the warning or note to withdraw (default: the
    latest in force). Lifting what is not in force, or banning a banned author, is an ``AuthorActionError``."""
    author_id = (author_id or "").strip()
    if not author_id or len(author_id) > 200:
        raise AuthorActionError("unknown_author")
    if action not in ACTIONS and action not in REVERSALS:
        raise AuthorActionError("unknown_action", action)
    reason = _clean_reason(reason)
    if action in NEEDS_REASON and not reason:
        raise AuthorActionError("reason_required")
    now = utcnow()
    standing, exists = _standing(session, site.id, author_id)
    until = None
    reverts = None
    if action == "ban":
        if standing.banned:
            raise AuthorActionError("already")
        standing.banned, standing.banned_at = True, now
    elif action == "suspend":
        if days is None or not 1 <= days <= MAX_SUSPENSION_DAYS:
            raise AuthorActionError("bad_days")
        until = now + timedelta(days=days)
        standing.suspended_until = until  # a new suspension replaces the one in force
    elif action == "premoderate":
        if standing.premoderated:
            raise AuthorActionError("already")
        standing.premoderated = True
    elif action == "warn":
        standing.warnings = (standing.warnings or 0) + 1
    elif action in REVERSALS:
        original = REVERSALS[action]
        in_force = {"ban": bool(standing.banned), "suspend": authors.suspended(standing, now),
                    "premoderate": bool(standing.premoderated)}.get(original, True)
        if not in_force:
            raise AuthorActionError("not_in_force")
        reverts = _latest_in_force(session, site.id, author_id, original, target_id)
        if reverts is None and original in ("warn", "note"):
            raise AuthorActionError("no_such_action")
        if original == "ban":
            standing.banned, standing.banned_at = False, None
        elif original == "suspend":
            standing.suspended_until = None
        elif original == "premoderate":
            standing.premoderated = False
        elif original == "warn":
            standing.warnings = max((standing.warnings or 0) - 1, 0)
    if not exists:
        _insert(session, standing)
    session.flush()
    return _record(session, site, author_id, action, actor=actor, actor_name=actor_name, reason=reason, until=until,
                   reverts=reverts, standing=standing, services=services)


def reject_waiting(session: Session, site: Site, author_id: str, *, actor: str, actor_name: str,
                   reason: str | None = None, explanation: str | None = None, services: Services | None = None
                   ) -> tuple[AuthorAction, list[list]]:
    """Reject every comment of the author on the site still waiting (pending or flagged; at most ``MAX_BULK``, the
    oldest first), each through ``record_decision`` (audit entry and ``comment.decided`` event each), with the
    site's reject ``reason`` and the moderator's ``explanation``; then one history row and audit entry for the
    whole. Returns the row and the changes ``[[comment id, previous status, "rejected"], ...]`` (what an undo
    needs). Does not commit."""
    reason = _clean_reason(reason)
    explanation = _clean_reason(explanation)
    if reason and reason not in (site.reject_reasons or []):
        raise AuthorActionError("unknown_reason", reason)
    comments = list(session.scalars(select(Comment).where(
        Comment.site_id == site.id, Comment.author_id == author_id, Comment.status.in_(WAITING))
        .order_by(Comment.id).limit(MAX_BULK)))
    if not comments:
        raise AuthorActionError("nothing_waiting")
    reasons = ([moderator_reason(reason)] if reason else []) + ([explanation_reason(explanation)] if explanation else [])
    changes = []
    for comment in comments:
        changes.append([comment.id, comment.status, Status.rejected.value])
        record_decision(session, comment, Status.rejected.value, actor=actor, actor_name=actor_name, reasons=reasons,
                        note=explanation or reason, services=services)
    words = " · ".join(part for part in (reason, explanation) if part) or None
    row = _record(session, site, author_id, REJECT_WAITING, actor=actor, actor_name=actor_name, reason=words,
                  comment_count=len(changes), services=services, notify=False)  # each comment sent its own event
    return row, changes
