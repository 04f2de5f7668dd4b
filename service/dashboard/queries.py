"""Database reads behind the moderation queue: filters, tab counts, keyset (cursor) pagination, and what a comment
card shows (its automatic decision, parent comment, author history, audit history).

Everything is a bounded query: counts are ``GROUP BY status`` aggregates, pages are ``LIMIT n+1`` keyset scans on
the ``(status, id)``, ``(site_id, status, id)`` and ``(status, score)`` indexes, so a page costs the same on the
first and on the thousandth page."""
from __future__ import annotations

import math
import sqlite3
import unicodedata
from dataclasses import dataclass, field, replace
from datetime import date, datetime, time, timedelta, timezone
from typing import Any
from urllib.parse import urlencode

from flask_babel import gettext
from sqlalchemy import Select, Text, and_, event, func, or_, select
from sqlalchemy.engine import Engine
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.functions import FunctionElement
from sqlalchemy.orm import Session, selectinload

from service.dashboard.blueprint import is_row_id
from core import articles, reports
from core.storage.models import Article, AuditEntry, Comment, ModelResult
from core.vocabulary import LABELS

TABS = ("flagged", "reported", "pending", "approved", "rejected", "all")
STATUS_TABS = ("flagged", "pending", "approved", "rejected")
SORTS = ("score", "time", "oldest")  # most toxic first, newest first, oldest first (work a queue in order)
PAGE_SIZE = 25
AUTOMATIC_ACTORS = ("model", "rule", "system")  # system: the author's standing (core.authors)
HUMAN_ACTORS = ("moderator", "admin")

# Accent folding for search: "tempete" finds "tempête" and "TEMPÊTE". One table, used three ways: by Python for
# the searched words, as the SQL function vigie_fold() on SQLite (registered on each connection, see init_search),
# and as lower() + translate() on PostgreSQL (built-in functions, nothing to install).
FOLD = {**{c: "a" for c in "àâäáãå"}, "ç": "c", **{c: "e" for c in "éèêë"}, **{c: "i" for c in "îïíì"},
        **{c: "o" for c in "ôöóòõ"}, **{c: "u" for c in "ùûüú"}, "ÿ": "y", "ñ": "n", "œ": "oe", "æ": "ae",
        "\u2019": "'"}


def fold_text(text: str | None) -> str | None:
    """Lower-cased, accents folded: what both the comment text and the searched words become."""
    if text is None:
        return None
    if text.isascii():
        return text.lower()
    if not unicodedata.is_normalized("NFC", text):  # "e" + combining accent: one "é" first
        text = unicodedata.normalize("NFC", text)
    text = text.lower()
    for src, dst in FOLD.items():  # str.replace per letter present: far faster than str.translate with a dict
        if src in text:
            text = text.replace(src, dst)
    return text


class folded(FunctionElement):
    """``fold_text`` in SQL."""
    type = Text()
    name = "vigie_fold"
    inherit_cache = True


@compiles(folded)
def _folded_sqlite(element, compiler, **kw):
    return f"vigie_fold({compiler.process(element.clauses, **kw)})"


def _sql_literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


@compiles(folded, "postgresql")
def _folded_postgresql(element, compiler, **kw):
    single = {k: v for k, v in FOLD.items() if len(v) == 1}
    expr = f"lower({compiler.process(element.clauses, **kw)})"
    for src, dst in FOLD.items():
        if len(dst) > 1:
            expr = f"replace({expr}, {_sql_literal(src)}, {_sql_literal(dst)})"
    return f"translate({expr}, {_sql_literal(''.join(single))}, {_sql_literal(''.join(single.values()))})"


def _register_sqlite_fold(dbapi_connection, _record) -> None:
    if isinstance(dbapi_connection, sqlite3.Connection):
        dbapi_connection.create_function("vigie_fold", 1, fold_text, deterministic=True)


def init_search(app) -> None:
    """Give every SQLite connection the vigie_fold() function (connections opened before are closed)."""
    if not event.contains(Engine, "connect", _register_sqlite_fold):
        event.listen(Engine, "connect", _register_sqlite_fold)
    vigie = app.extensions.get("vigie")
    if vigie is not None and vigie.db.engine.dialect.name == "sqlite":
        vigie.db.engine.dispose()


class BadFilter(ValueError):
    """A query-string value the queue cannot use (answered with a 400)."""


def _parse_date(value: str, name: str) -> date | None:
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError as exc:
        raise BadFilter(gettext("%(field)s: expected a date as YYYY-MM-DD", field=name)) from exc


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
    thread: str = ""  # one article's comments (with ``site``: thread ids are per site)

    @classmethod
    def from_args(cls, args) -> QueueFilters:
        tab = args.get("tab", "flagged") or "flagged"
        if tab not in TABS:
            raise BadFilter(gettext("tab: must be one of %(values)s", values=", ".join(TABS)))
        sort = args.get("sort", "score") or "score"
        if sort not in SORTS:
            raise BadFilter(gettext("sort: must be one of %(values)s", values=", ".join(SORTS)))
        site = args.get("site", "")
        if site and not is_row_id(site):
            raise BadFilter(gettext("site: expected a site id"))
        label = args.get("label", "")
        if label and label not in LABELS:
            raise BadFilter(gettext("label: must be one of %(values)s", values=", ".join(LABELS)))
        try:
            min_score = float(args.get("min", "") or 0.5)
        except ValueError as exc:
            raise BadFilter(gettext("min: expected a number between 0 and 1")) from exc
        if not 0.0 <= min_score <= 1.0:  # also refuses nan
            raise BadFilter(gettext("min: expected a number between 0 and 1"))
        cursor = args.get("cursor", "")
        if cursor:
            parse_cursor(cursor, "reported" if tab == "reported" else sort)
        return cls(tab=tab, sort=sort, site_id=int(site) if site else None, label=label, min_score=min_score,
                   since=_parse_date(args.get("since", ""), "since"), until=_parse_date(args.get("until", ""), "until"),
                   author=args.get("author", "").strip()[:200], q=args.get("q", "").strip()[:200], cursor=cursor,
                   thread=args.get("thread", "").strip()[:200])

    def query_string(self, **changes: Any) -> str:
        """The URL query for these filters with some changed (empty values left out)."""
        f = replace(self, **changes)
        pairs = {"tab": f.tab, "sort": f.sort, "site": f.site_id or "", "label": f.label,
                 "min": f.min_score if f.label and f.min_score != 0.5 else "",
                 "since": f.since.isoformat() if f.since else "", "until": f.until.isoformat() if f.until else "",
                 "author": f.author, "q": f.q, "thread": f.thread, "cursor": f.cursor}
        return urlencode({k: v for k, v in pairs.items() if v not in ("", None)})


def _row_id(text: str) -> int:
    if not is_row_id(text):
        raise ValueError(text)
    return int(text)


def parse_cursor(cursor: str, sort: str) -> tuple[float | None, int]:
    """``t<id>`` for time order, ``s<score>:<id>`` or ``n:<id>`` (no score yet) for score order."""
    try:
        if sort == "reported" and cursor.startswith("r"):
            count, _, ident = cursor[1:].partition(":")
            return float(_row_id(count)), _row_id(ident)
        if sort == "time" and cursor.startswith("t"):
            return None, _row_id(cursor[1:])
        if sort == "oldest" and cursor.startswith("o"):
            return None, _row_id(cursor[1:])
        if sort == "score" and cursor.startswith("n:"):
            return None, _row_id(cursor[2:])
        if sort == "score" and cursor.startswith("s"):
            score, _, ident = cursor[1:].partition(":")
            if math.isfinite(float(score)):
                return float(score), _row_id(ident)
    except ValueError:
        pass
    raise BadFilter(gettext("cursor: not a cursor of this queue; start again from the first page"))


def make_cursor(comment: Comment, sort: str) -> str:
    if sort == "reported":
        return f"r{comment.report_count}:{comment.id}"
    if sort == "time":
        return f"t{comment.id}"
    if sort == "oldest":
        return f"o{comment.id}"
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
        stmt = stmt.where(folded(Comment.text).contains(fold_text(f.q), autoescape=True))
    if f.thread:
        stmt = stmt.where(Comment.thread_id == f.thread)
    return stmt


def reported_only(stmt: Select) -> Select:
    """The "reported" tab: comments readers reported that no moderator has settled yet (flagged, pending, or
    approved automatically); a moderator's approval or a rejection takes them out."""
    return stmt.where(Comment.report_count > 0, or_(
        Comment.status.in_(("flagged", "pending")),
        and_(Comment.status == "approved", Comment.decided_by.in_(AUTOMATIC_ACTORS + ("system",)))))


def tab_counts(session: Session, f: QueueFilters) -> dict[str, int]:
    stmt = apply_filters(select(Comment.status, func.count()).select_from(Comment), f).group_by(Comment.status)
    counts = {tab: 0 for tab in TABS}
    for status, n in session.execute(stmt):
        if status in STATUS_TABS:
            counts[status] = n
        counts["all"] += n
    counts["reported"] = session.scalar(reported_only(apply_filters(select(func.count()).select_from(Comment), f)))
    return counts


@dataclass
class Page:
    comments: list[Comment]
    next_cursor: str | None
    filters: QueueFilters
    decisions: dict[int, AuditEntry] = field(default_factory=dict)  # latest automatic decision per comment
    parents: dict[tuple[int, str], Comment] = field(default_factory=dict)
    moderations: dict[int, AuditEntry] = field(default_factory=dict)  # latest moderator entry per comment
    articles: dict[tuple[int, str], Article] = field(default_factory=dict)  # by (site id, thread id)
    reports: dict[int, dict[str, int]] = field(default_factory=dict)  # readers' reports per reason
    report_texts: dict[int, list[str]] = field(default_factory=dict)  # readers' latest words


def queue_page(session: Session, f: QueueFilters, size: int = PAGE_SIZE) -> Page:
    stmt = apply_filters(select(Comment), f).options(selectinload(Comment.result), selectinload(Comment.site))
    if f.tab == "reported":
        stmt = reported_only(stmt)
    elif f.tab != "all":
        stmt = stmt.where(Comment.status == f.tab)
    sort = "reported" if f.tab == "reported" else f.sort
    if sort == "reported":  # most reported first, then the oldest
        if f.cursor:
            count, ident = parse_cursor(f.cursor, "reported")
            stmt = stmt.where(or_(Comment.report_count < count,
                                  and_(Comment.report_count == count, Comment.id > ident)))
        stmt = stmt.order_by(Comment.report_count.desc(), Comment.id.asc())
    elif f.sort == "time":
        if f.cursor:
            stmt = stmt.where(Comment.id < parse_cursor(f.cursor, "time")[1])
        stmt = stmt.order_by(Comment.id.desc())
    elif f.sort == "oldest":
        if f.cursor:
            stmt = stmt.where(Comment.id > parse_cursor(f.cursor, "oldest")[1])
        stmt = stmt.order_by(Comment.id.asc())
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
    next_cursor = make_cursor(rows[size - 1], sort) if len(rows) > size else None
    page = Page(rows[:size], next_cursor, f)
    page.decisions = automatic_decisions(session, [c.id for c in page.comments])
    page.parents = parents_of(session, page.comments)
    page.moderations = moderator_decisions(session, [c.id for c in page.comments])
    page.articles = articles.for_comments(session, page.comments)
    reported = [c.id for c in page.comments if c.report_count]
    page.reports = reports.reason_counts(session, reported)
    page.report_texts = reports.reader_texts(session, reported)
    return page


def moderator_decisions(session: Session, comment_ids: list[int]) -> dict[int, AuditEntry]:
    """The latest moderator (or admin) entry of each comment: who decided, why; an undo when it was undone."""
    if not comment_ids:
        return {}
    stmt = (select(AuditEntry).where(AuditEntry.comment_id.in_(comment_ids), AuditEntry.actor.in_(HUMAN_ACTORS),
                                     AuditEntry.status_to.is_not(None))  # not an erasure entry (no status)
            .order_by(AuditEntry.id))
    return {entry.comment_id: entry for entry in session.scalars(stmt)}


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
