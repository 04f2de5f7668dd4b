"""Database reads behind the moderation queue: filters, tab counts, keyset (cursor) pagination, and what a comment
card shows (its automatic decision, parent comment, author history, audit history).

Everything is a bounded query: counts are ``GROUP BY status`` aggregates, pages are ``LIMIT n+1`` keyset scans on
the ``(status, id)``, ``(site_id, status, id)`` and ``(status, score)`` indexes, so a page costs the same on the
first and on the thousandth page."""
from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from datetime import date, datetime, time, timedelta, timezone
from typing import Any
from urllib.parse import urlencode

from sqlalchemy import Select, and_, func, or_, select
from sqlalchemy.orm import Session, selectinload

from service.dashboard.blueprint import is_row_id
from core.storage.models import AuditEntry, Comment, ModelResult
from core.vocabulary import LABELS

TABS = ("flagged", "pending", "approved", "rejected", "all")
SORTS = ("score", "time")
PAGE_SIZE = 25
AUTOMATIC_ACTORS = ("model", "rule")


class BadFilter(ValueError):
    """A query-string value the queue cannot use (answered with a 400)."""


def _parse_date(value: str, name: str) -> date | None:
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError as exc:
        raise BadFilter(f"{name}: expected a date as YYYY-MM-DD") from exc


@dataclass(frozen=True)
class QueueFilters:
    tab: str = "flagged"
    sort: str = "score"
    site_id: int | None = None
    label: str = ""
    min_score: float = 0.5
    since: date | None = None
    until: date | None = None
    author: str = ""
    q: str = ""
    cursor: str = ""

    @classmethod
    def from_args(cls, args) -> QueueFilters:
        tab = args.get("tab", "flagged") or "flagged"
        if tab not in TABS:
            raise BadFilter(f"tab: must be one of {', '.join(TABS)}")
        sort = args.get("sort", "score") or "score"
        if sort not in SORTS:
            raise BadFilter("sort: must be 'score' or 'time'")
        site = args.get("site", "")
        if site and not is_row_id(site):
            raise BadFilter("site: expected a site id")
        label = args.get("label", "")
        if label and label not in LABELS:
            raise BadFilter(f"label: must be one of {', '.join(LABELS)}")
        try:
            min_score = float(args.get("min", "") or 0.5)
        except ValueError as exc:
            raise BadFilter("min: expected a number between 0 and 1") from exc
        if not 0.0 <= min_score <= 1.0:  # also refuses nan
            raise BadFilter("min: expected a number between 0 and 1")
        cursor = args.get("cursor", "")
        if cursor:
            parse_cursor(cursor, sort)
        return cls(tab=tab, sort=sort, site_id=int(site) if site else None, label=label, min_score=min_score,
                   since=_parse_date(args.get("since", ""), "since"), until=_parse_date(args.get("until", ""), "until"),
                   author=args.get("author", "").strip()[:200], q=args.get("q", "").strip()[:200], cursor=cursor)

    def query_string(self, **changes: Any) -> str:
        """The URL query for these filters with some changed (empty values left out)."""
        f = replace(self, **changes)
        pairs = {"tab": f.tab, "sort": f.sort, "site": f.site_id or "", "label": f.label,
                 "min": f.min_score if f.label and f.min_score != 0.5 else "",
                 "since": f.since.isoformat() if f.since else "", "until": f.until.isoformat() if f.until else "",
                 "author": f.author, "q": f.q, "cursor": f.cursor}
        return urlencode({k: v for k, v in pairs.items() if v not in ("", None)})


def _row_id(text: str) -> int:
    if not is_row_id(text):
        raise ValueError(text)
    return int(text)


def parse_cursor(cursor: str, sort: str) -> tuple[float | None, int]:
    """``t<id>`` for time order, ``s<score>:<id>`` or ``n:<id>`` (no score yet) for score order."""
    try:
        if sort == "time" and cursor.startswith("t"):
            return None, _row_id(cursor[1:])
        if sort == "score" and cursor.startswith("n:"):
            return None, _row_id(cursor[2:])
        if sort == "score" and cursor.startswith("s"):
            score, _, ident = cursor[1:].partition(":")
            if math.isfinite(float(score)):
                return float(score), _row_id(ident)
    except ValueError:
        pass
    raise BadFilter("cursor: not a cursor of this queue; start again from the first page")


def make_cursor(comment: Comment, sort: str) -> str:
    if sort == "time":
        return f"t{comment.id}"
    if comment.score is None:
        return f"n:{comment.id}"
    return f"s{comment.score!r}:{comment.id}"


def _day_start(d: date) -> datetime:
    return datetime.combine(d, time.min, tzinfo=timezone.utc)


def apply_filters(stmt: Select, f: QueueFilters) -> Select:
    """Every filter except the tab (status) and the cursor."""
    if f.site_id:
        stmt = stmt.where(Comment.site_id == f.site_id)
    if f.label == "toxicity":  # Comment.score is the toxicity score, and it is indexed
        stmt = stmt.where(Comment.score >= f.min_score)
    elif f.label:
        stmt = stmt.join(ModelResult, ModelResult.comment_id == Comment.id).where(
            ModelResult.scores[f.label].as_float() >= f.min_score)
    if f.since:
        stmt = stmt.where(Comment.received_at >= _day_start(f.since))
    if f.until:
        stmt = stmt.where(Comment.received_at < _day_start(f.until + timedelta(days=1)))
    if f.author:
        stmt = stmt.where(or_(Comment.author_id == f.author, Comment.author_name == f.author))
    if f.q:
        stmt = stmt.where(Comment.text.icontains(f.q, autoescape=True))
    return stmt


def tab_counts(session: Session, f: QueueFilters) -> dict[str, int]:
    stmt = apply_filters(select(Comment.status, func.count()).select_from(Comment), f).group_by(Comment.status)
    counts = {tab: 0 for tab in TABS}
    for status, n in session.execute(stmt):
        if status in counts:
            counts[status] = n
        counts["all"] += n
    return counts


@dataclass
class Page:
    comments: list[Comment]
    next_cursor: str | None
    filters: QueueFilters
    decisions: dict[int, AuditEntry] = field(default_factory=dict)  # latest automatic decision per comment
    parents: dict[tuple[int, str], Comment] = field(default_factory=dict)


def queue_page(session: Session, f: QueueFilters, size: int = PAGE_SIZE) -> Page:
    stmt = apply_filters(select(Comment), f).options(selectinload(Comment.result), selectinload(Comment.site))
    if f.tab != "all":
        stmt = stmt.where(Comment.status == f.tab)
    if f.sort == "time":
        if f.cursor:
            stmt = stmt.where(Comment.id < parse_cursor(f.cursor, "time")[1])
        stmt = stmt.order_by(Comment.id.desc())
    else:
        if f.cursor:
            score, ident = parse_cursor(f.cursor, "score")
            if score is None:
                stmt = stmt.where(Comment.score.is_(None), Comment.id < ident)
            else:
                stmt = stmt.where(or_(Comment.score < score, and_(Comment.score == score, Comment.id < ident),
                                      Comment.score.is_(None)))
        stmt = stmt.order_by(Comment.score.desc().nulls_last(), Comment.id.desc())
    rows = list(session.scalars(stmt.limit(size + 1)))
    next_cursor = make_cursor(rows[size - 1], f.sort) if len(rows) > size else None
    page = Page(rows[:size], next_cursor, f)
    page.decisions = automatic_decisions(session, [c.id for c in page.comments])
    page.parents = parents_of(session, page.comments)
    return page


def automatic_decisions(session: Session, comment_ids: list[int]) -> dict[int, AuditEntry]:
    """The latest model or rule decision of each comment (its reasons hold the word-list hits)."""
    if not comment_ids:
        return {}
    stmt = (select(AuditEntry).where(AuditEntry.comment_id.in_(comment_ids), AuditEntry.actor.in_(AUTOMATIC_ACTORS))
            .order_by(AuditEntry.id))
    return {entry.comment_id: entry for entry in session.scalars(stmt)}


def parents_of(session: Session, comments: list[Comment]) -> dict[tuple[int, str], Comment]:
    keys = {(c.site_id, c.parent_id) for c in comments if c.parent_id}
    if not keys:
        return {}
    conditions = [and_(Comment.site_id == s, Comment.external_id == p) for s, p in keys]
    return {(c.site_id, c.external_id): c for c in session.scalars(select(Comment).where(or_(*conditions)))}


@dataclass
class AuthorHistory:
    total: int
    by_status: dict[str, int]
    recent: list[Comment]


def author_history(session: Session, comment: Comment, recent: int = 5) -> AuthorHistory | None:
    if not comment.author_id:
        return None
    where = (Comment.site_id == comment.site_id, Comment.author_id == comment.author_id)
    by_status = dict(session.execute(select(Comment.status, func.count()).where(*where).group_by(Comment.status)).all())
    last = list(session.scalars(select(Comment).where(*where, Comment.id != comment.id)
                                .order_by(Comment.id.desc()).limit(recent)))
    return AuthorHistory(sum(by_status.values()), by_status, last)


def comment_history(session: Session, comment_id: int) -> list[AuditEntry]:
    return list(session.scalars(select(AuditEntry).where(AuditEntry.comment_id == comment_id).order_by(AuditEntry.id)))
