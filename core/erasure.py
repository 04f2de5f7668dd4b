"""Erasure (GDPR art. 17) and retention: a comment's text, original text, author and spans go; a tombstone stays.

What is erased, for each comment: ``text`` (emptied), ``original_text``, ``author_id``, ``author_name``, a Coral
content-derived ``external_id`` (a hash of author and body), the spans of its model result, the comment's words
copied into reasons (word-list hits: their ``text``) in the audit log and in webhook delivery bodies, texts sent
back through Perspective's suggestscore (``score_labels``), and any copy still in Redis (a synchronous scoring
request: ``vigie:sync:req:*``; the comment's id in the scoring queue). An append-only Redis file is rewritten
(``BGREWRITEAOF``) so the erased text leaves it too.

What stays (the tombstone): the row's id, site, external id, thread, parent, language, source, status, who
decided and when, the scores, model and version, every audit entry (reasons without the comment's words;
moderators' own notes and reasons), webhook deliveries (without the comment's words) and their attempts. A pending
comment is decided ``rejected`` by ``system`` (reason ``erased``) so that nothing scores an empty text. Every
erasure is audited (``action`` ``erased``: who, when, how many comments; an author erasure also records a
SHA-256 of the author id, never the id).

Extending: a table holding an author's data (notes, actions...) registers a step in ``AUTHOR_STEPS`` (called
with the session and the ``Scope``; returns how many rows it erased), a table holding comment text one in
``COMMENT_STEPS``. The counts end up in the report and the audit entry.
"""
from __future__ import annotations

import hashlib
import json
import logging
import re
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, Callable, Iterable

from sqlalchemy import or_, select
from sqlalchemy import text as sql
from sqlalchemy.orm import Session

from core import metrics, queues
from core.decisions import record_decision
from core.services import Services
from core.storage.models import (AuditEntry, AuthorAction, AuthorStanding, Comment, CommentReport, ModelResult,
                                 ScoreLabel, WebhookDelivery, utcnow)
from core.vocabulary import Actor, Status

log = logging.getLogger(__name__)
ERASED_REASON = {"kind": "erased"}
RETENTION_LOCK = "vigie:retention-lock"
RETENTION_INTERVAL_S = 3600
RETENTION_BATCH = 1000
_CORAL_CONTENT_ID = re.compile(r"^coral:[0-9a-f]{40}:-?\d+$")  # service/integrations/coral.py:_external_ids


@dataclass
class Scope:
    """What one erasure covers: a site's comments (ids and the texts they held), and the author when erasing one."""

    site_id: int
    comment_ids: list[int]
    texts: list[str]
    author_id: str | None = None


@dataclass
class Report:
    comments: int = 0
    counts: dict[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {"comments": self.comments, **self.counts}


Step = Callable[[Session, Scope], int]


# ---------------------------------------------------------------------------------------------------- steps
ERASED_AUTHOR = "erased"


def _scrub_reasons(reasons: Any) -> tuple[Any, bool]:
    """Reasons without the comment's own words (a word-list hit's ``text``) or its author's id (an author reason:
    the standing that decided it)."""
    if not isinstance(reasons, list):
        return reasons, False
    out, changed = [], False
    for reason in reasons:
        if isinstance(reason, dict) and reason.get("kind") == "word" and "text" in reason:
            reason = {k: v for k, v in reason.items() if k != "text"}
            changed = True
        elif isinstance(reason, dict) and reason.get("kind") == "author" and reason.get("author_id") != ERASED_AUTHOR:
            reason = {**reason, "author_id": ERASED_AUTHOR}
            changed = True
        out.append(reason)
    return out, changed


def _audit_reasons(session: Session, scope: Scope) -> int:
    changed = 0
    for entry in session.scalars(select(AuditEntry).where(AuditEntry.comment_id.in_(scope.comment_ids))):
        reasons, dirty = _scrub_reasons(entry.reasons)
        if dirty:
            entry.reasons = reasons
            changed += 1
    return changed


def _delivery_bodies(session: Session, scope: Scope) -> int:
    changed = 0
    for delivery in session.scalars(select(WebhookDelivery).where(WebhookDelivery.comment_id.in_(scope.comment_ids))):
        payload = dict(delivery.payload or {})
        comment = dict(payload.get("comment") or {})
        reasons, dirty = _scrub_reasons(comment.get("reasons"))
        if dirty:
            comment["reasons"] = reasons
            payload["comment"] = comment
            delivery.payload = payload
            changed += 1
    return changed


def _score_labels(session: Session, scope: Scope) -> int:
    conditions = [ScoreLabel.comment_id.in_(scope.comment_ids)]
    if scope.texts:
        conditions.append((ScoreLabel.site_id == scope.site_id) & ScoreLabel.text.in_(scope.texts))
    labels = list(session.scalars(select(ScoreLabel).where(or_(*conditions), ScoreLabel.text.is_not(None))))
    for label in labels:
        label.text = None
    return len(labels)


def _report_texts(session: Session, scope: Scope) -> int:
    """Readers' words sent with their reports of these comments (they may quote them); the reports stay counted."""
    reports = list(session.scalars(select(CommentReport).where(CommentReport.comment_id.in_(scope.comment_ids),
                                                               CommentReport.text.is_not(None))))
    for report in reports:
        report.text = None
    return len(reports)


COMMENT_STEPS: list[tuple[str, Step]] = [
    ("audit_entries_scrubbed", _audit_reasons),
    ("deliveries_scrubbed", _delivery_bodies),
    ("score_labels", _score_labels),
    ("report_texts", _report_texts),
]
def _author_actions(session: Session, scope: Scope) -> int:
    """Moderators' actions on the author stay as history (what, who, when) without the author's id (a digest in
    its place) or the reasons, warnings and notes written about them."""
    actions = list(session.scalars(select(AuthorAction).where(AuthorAction.site_id == scope.site_id,
                                                              AuthorAction.author_id == scope.author_id)))
    for action in actions:
        action.author_id = f"erased:{author_digest(scope.site_id, scope.author_id or '')}"
        action.reason = None
    return len(actions)


def _author_standing(session: Session, scope: Scope) -> int:
    """The author's standing (ban, suspension, pre-moderation, warnings) goes: it cannot outlive the identity it
    is about. A comment sent later under the same id starts from no restriction."""
    standings = list(session.scalars(select(AuthorStanding).where(AuthorStanding.site_id == scope.site_id,
                                                                  AuthorStanding.author_id == scope.author_id)))
    for standing in standings:
        session.delete(standing)
    return len(standings)


def _author_audit(session: Session, scope: Scope) -> int:
    """Audit entries of actions on the author (``author_*``): their reasons lose the author id, their note (the
    moderator's reason or note about the author) goes."""
    changed = 0
    for entry in session.scalars(select(AuditEntry).where(AuditEntry.site_id == scope.site_id,
                                                          AuditEntry.comment_id.is_(None),
                                                          AuditEntry.action.like("author%"))):
        if not any(isinstance(r, dict) and r.get("kind") == "author" and r.get("author_id") == scope.author_id
                   for r in entry.reasons or []):
            continue
        entry.reasons, _ = _scrub_reasons(entry.reasons)
        entry.note = None
        changed += 1
    return changed


def _author_events(session: Session, scope: Scope) -> int:
    """``author.action`` webhook bodies about the author: id, name and reason go (the rest of the event stays)."""
    changed = 0
    for delivery in session.scalars(select(WebhookDelivery).where(WebhookDelivery.site_id == scope.site_id,
                                                                  WebhookDelivery.event == "author.action")):
        payload = dict(delivery.payload or {})
        author = payload.get("author") or {}
        if not isinstance(author, dict) or author.get("id") != scope.author_id:
            continue
        payload["author"] = {"id": ERASED_AUTHOR, "name": None}
        payload["reason"] = None
        delivery.payload = payload
        changed += 1
    return changed


# Tables holding an author's data beyond the comments (order matters: the audit step matches the author id
# before the actions step replaces it).
def _author_reports(session: Session, scope: Scope) -> int:
    """The reports this person sent as a reader (the same id in the comment system): the reader id becomes a
    digest (one report per reader and comment still holds) and their words go; the counts stay."""
    reports = list(session.scalars(select(CommentReport).where(CommentReport.site_id == scope.site_id,
                                                               CommentReport.reporter_id == scope.author_id)))
    for report in reports:
        report.reporter_id = f"{ERASED_AUTHOR}:{author_digest(scope.site_id, scope.author_id or '')}"
        report.text = None
    return len(reports)


AUTHOR_STEPS: list[tuple[str, Step]] = [
    ("author_reports", _author_reports),
    ("author_audit_entries", _author_audit),
    ("author_events", _author_events),
    ("author_actions", _author_actions),
    ("author_standings", _author_standing),
]


# ------------------------------------------------------------------------------------------------- erasing
def author_digest(site_id: int, author_id: str) -> str:
    """What the audit keeps of an erased author: enough to answer "was author X erased?", not to read X."""
    return hashlib.sha256(f"{site_id}:{author_id}".encode()).hexdigest()[:16]


def _erase_rows(session: Session, services: Services | None, comments: list[Comment], actor: str,
                actor_name: str, reason: str, per_comment_audit: bool) -> list[str]:
    """Erase the comments' personal data in the session (no commit). Returns the texts they held."""
    now = utcnow()
    texts: list[str] = []
    for comment in comments:
        texts += [t for t in (comment.text, comment.original_text) if t]
        if comment.status == Status.pending.value:  # nothing may score an empty text: decided, by the system
            record_decision(session, comment, Status.rejected.value, actor=Actor.system.value,
                            actor_name=actor_name, reasons=[dict(ERASED_REASON)], services=services)
        comment.text = ""
        comment.original_text = None
        comment.author_id = None
        comment.author_name = None
        if comment.external_id and _CORAL_CONTENT_ID.match(comment.external_id):
            comment.external_id = None
        comment.erased_at = now
        if comment.result is not None:
            comment.result.spans = None
        if per_comment_audit:
            session.add(AuditEntry(site_id=comment.site_id, comment_id=comment.id, actor=actor,
                                   actor_name=actor_name, action="erased",
                                   reasons=[{"kind": "erasure", "scope": reason}]))
    return texts


def _run(services: Services, session: Session, comments: list[Comment], actor: str, actor_name: str,
         scope_name: str, author_id: str | None = None, site_id: int | None = None) -> Report:
    report = Report(comments=len(comments))
    ids = [c.id for c in comments]
    sid = site_id if site_id is not None else (comments[0].site_id if comments else 0)
    texts = _erase_rows(session, services, comments, actor, actor_name, scope_name, per_comment_audit=True)
    scope = Scope(site_id=sid, comment_ids=ids, texts=texts, author_id=author_id)
    for name, step in COMMENT_STEPS:
        report.counts[name] = step(session, scope) if ids else 0
    for name, step in AUTHOR_STEPS if author_id is not None else []:
        report.counts[name] = step(session, scope)
    if author_id is not None:
        summary = {"kind": "erasure", "scope": "author", "author": author_digest(sid, author_id), **report.as_dict()}
        session.add(AuditEntry(site_id=sid, comment_id=None, actor=actor, actor_name=actor_name, action="erased",
                               reasons=[summary]))
    session.flush()
    session.commit()
    _checkpoint(session)
    metrics.erased("erasure", len(ids))
    report.counts["redis_keys"] = scrub_redis(services, ids, texts)
    return report


def erase_comment(services: Services, session: Session, site_id: int, comment_id: int, actor: str,
                  actor_name: str) -> Report | None:
    """Erase one comment of a site (None when the site has no such comment). Commits."""
    comment = session.scalar(select(Comment).where(Comment.id == comment_id, Comment.site_id == site_id))
    if comment is None:
        return None
    return _run(services, session, [comment], actor, actor_name, "comment")


def erase_author(services: Services, session: Session, site_id: int, author_id: str, actor: str,
                 actor_name: str) -> Report:
    """Erase every comment an author wrote on a site, and the author's rows in ``AUTHOR_STEPS``. Commits; audited
    even when the author has no comment (the request was honoured)."""
    comments = list(session.scalars(select(Comment).where(Comment.site_id == site_id, Comment.author_id == author_id)
                                    .order_by(Comment.id)))
    return _run(services, session, comments, actor, actor_name, "author", author_id=author_id, site_id=site_id)


def _checkpoint(session: Session) -> None:
    """SQLite: copy the write-ahead log into the database file and truncate it, so the erased text leaves the log
    too (``secure_delete`` zeroes it in the file; core/storage/db.py). Best effort: a busy reader postpones it."""
    try:
        if session.get_bind().dialect.name == "sqlite":
            session.execute(sql("PRAGMA wal_checkpoint(TRUNCATE)"))
            session.commit()
    except Exception:
        log.debug("erasure: SQLite checkpoint postponed", exc_info=True)


# --------------------------------------------------------------------------------------------------- Redis
def _holds(raw: bytes | None, needles: Iterable[bytes]) -> bool:
    return raw is not None and any(n in raw for n in needles)


def scrub_redis(services: Services, comment_ids: list[int], texts: list[str]) -> int:
    """Remove the erased comments from Redis: their ids from the scoring queue and any synchronous scoring request
    still holding one of their texts; then rewrite the append-only file so the text leaves the disk too. Returns
    the number of keys changed. Redis being down only logs (the keys expire within seconds anyway)."""
    redis = services.redis
    changed = 0
    try:
        if comment_ids:
            members = [str(i) for i in comment_ids]
            pipe = redis.pipeline(transaction=False)
            pipe.zrem(queues.PENDING_KEY, *members)
            pipe.zrem(queues.INFLIGHT_KEY, *members)
            pipe.hdel(queues.INFLIGHT_OWNER_KEY, *members)
            changed += sum(1 for n in pipe.execute() if n)
        needles = set()
        for text in texts:
            needles.add(text.encode("utf-8"))
            needles.add(json.dumps(text)[1:-1].encode())  # as json.dumps writes it (sync requests)
        needles.discard(b"")
        if needles:
            for key in redis.scan_iter(match=queues.SYNC_REQUEST_KEY + "*", count=500):
                if _holds(redis.get(key), needles):
                    changed += redis.delete(key)
        if changed or needles:
            _rewrite_aof(redis)
    except Exception:
        log.warning("erasure: Redis could not be scrubbed (its sync requests expire within seconds)", exc_info=True)
    return changed


def _rewrite_aof(redis) -> None:
    """Rewrite the append-only file from memory (the erased text leaves it). Managed Redis that refuses CONFIG or
    BGREWRITEAOF is left alone (documented)."""
    try:
        if redis.config_get("appendonly").get("appendonly") == "yes":
            redis.bgrewriteaof()
    except Exception:
        log.info("erasure: could not rewrite Redis's append-only file", exc_info=True)


# ----------------------------------------------------------------------------------------------- retention
def purge_expired(services: Services, days: int, limit: int = RETENTION_BATCH) -> int:
    """Erase decided comments decided more than ``days`` ago (``VIGIE_RETENTION_DAYS``), ``limit`` at a time until
    none is left; one audit entry per site and batch (actor ``system``, action ``retention``). Returns how many."""
    if days <= 0:
        return 0
    cutoff = utcnow() - timedelta(days=days)
    total = 0
    while True:
        with services.db.sessionmaker() as session:
            comments = list(session.scalars(
                select(Comment).where(Comment.status != Status.pending.value, Comment.decided_at < cutoff,
                                      Comment.erased_at.is_(None)).order_by(Comment.id).limit(limit)))
            if not comments:
                return total
            by_site: dict[int, list[Comment]] = {}
            for comment in comments:
                by_site.setdefault(comment.site_id, []).append(comment)
            all_texts: list[str] = []
            for site_id, group in by_site.items():
                texts = _erase_rows(session, services, group, Actor.system.value, "retention", "retention",
                                    per_comment_audit=False)
                all_texts += texts
                scope = Scope(site_id=site_id, comment_ids=[c.id for c in group], texts=texts)
                counts = {name: step(session, scope) for name, step in COMMENT_STEPS}
                session.add(AuditEntry(site_id=site_id, comment_id=None, actor=Actor.system.value,
                                       actor_name="retention", action="retention",
                                       reasons=[{"kind": "erasure", "scope": "retention", "days": days,
                                                 "comments": len(group), **counts}]))
            session.commit()
            _checkpoint(session)
        metrics.erased("retention", len(comments))
        scrub_redis(services, [], all_texts)
        total += len(comments)
        log.info("retention: erased the text of %d comment(s) decided over %d day(s) ago", len(comments), days)
        if len(comments) < limit:
            return total


def purge_if_due(services: Services) -> int | None:
    """Run retention at most once per ``RETENTION_INTERVAL_S`` across all workers (a Redis lock); None when off or
    not due."""
    days = services.settings.retention_days
    if days <= 0 or not services.redis.set(RETENTION_LOCK, "1", nx=True, ex=RETENTION_INTERVAL_S):
        return None
    return purge_expired(services, days)
