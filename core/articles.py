"""Articles: the story a thread of comments belongs to. Comment systems send ``thread_id`` with each comment and,
when they know them, ``thread_title`` and ``thread_url``; ingest keeps one row per (site, thread id) with the
latest title and http(s) URL and when comments were first and last received. The dashboard lists articles with
their counts per status, and shows each one's queue and conversation (``conversation``)."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Iterable

from sqlalchemy import and_, case, func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from core.storage.models import Article, Comment, utcnow
from core.vocabulary import STATUSES

MAX_TITLE = 300
MAX_URL = 2000
MAX_CONVERSATION = 500  # comments shown in one conversation view
MAX_DEPTH = 6  # deeper replies are drawn at this indentation
SEEN_PRECISION = timedelta(seconds=60)  # last_seen_at is rewritten at most this often (a busy article is one hot row)


def web_url(url: str | None) -> str | None:
    """The URL if it is an absolute http(s) URL of sane length, else None (a ``javascript:`` link is never kept)."""
    if not url:
        return None
    url = url.strip()
    scheme, sep, rest = url.partition("://")
    if not sep or scheme.lower() not in ("http", "https") or not rest or len(url) > MAX_URL:
        return None
    if any(c.isspace() or ord(c) < 32 for c in url):
        return None
    return url


def touch(session: Session, site_id: int, thread_id: str, title: str | None, url: str | None,
          when: datetime | None = None, known: dict[tuple[int, str], Article] | None = None) -> Article:
    """Create or update the article of (site, thread): a non-empty title or http(s) URL replaces the stored one
    (titles get edited), ``last_seen_at`` moves on (to the minute). Safe against a concurrent first comment
    (unique key). ``known``: articles already loaded in this transaction (a batch), filled as it goes. Does not
    commit."""
    when = when or utcnow()
    title = (title or "").strip()[:MAX_TITLE] or None
    url = web_url(url)
    key = (site_id, thread_id)
    article = known.get(key) if known is not None else None
    if article is None:
        article, created = _load(session, site_id, thread_id, title, url, when)
        if known is not None:
            known[key] = article
        if created:
            return article
    if title and article.title != title:
        article.title = title
    if url and article.url != url:
        article.url = url
    last = article.last_seen_at
    if last is not None and last.tzinfo is None:  # SQLite gives naive UTC datetimes back
        last = last.replace(tzinfo=timezone.utc)
    if last is None or abs(when - last) >= SEEN_PRECISION:
        article.last_seen_at = when
    return article


def note(session: Session, site_id: int, thread_id: str, title: str | None, url: str | None,
         when: datetime | None = None) -> None:
    """``touch`` for ingest, in plain SQL statements (no ORM object): usually one indexed read, a write only for a
    new article, a new title or URL, or ``last_seen_at`` older than a minute. Does not commit."""
    when = when or utcnow()
    title = (title or "").strip()[:MAX_TITLE] or None
    url = web_url(url)
    row = session.execute(select(Article.id, Article.title, Article.url, Article.last_seen_at)
                          .where(Article.site_id == site_id, Article.thread_id == thread_id)).first()
    if row is None:
        touch(session, site_id, thread_id, title, url, when)  # the first comment: insert, safe against a race
        return
    changes: dict = {}
    if title and row.title != title:
        changes["title"] = title
    if url and row.url != url:
        changes["url"] = url
    last = row.last_seen_at
    if last is not None and last.tzinfo is None:
        last = last.replace(tzinfo=timezone.utc)
    if last is None or abs(when - last) >= SEEN_PRECISION:
        changes["last_seen_at"] = when
    if changes:
        session.execute(update(Article).where(Article.id == row.id).values(**changes))


def _load(session: Session, site_id: int, thread_id: str, title: str | None, url: str | None,
          when: datetime) -> tuple[Article, bool]:
    """The stored article, or a new one (then ``True``)."""
    article = session.scalar(select(Article).where(Article.site_id == site_id, Article.thread_id == thread_id))
    if article is None:
        try:
            with session.begin_nested():
                article = Article(site_id=site_id, thread_id=thread_id, title=title, url=url, first_seen_at=when,
                                  last_seen_at=when)
                session.add(article)
                session.flush()
            return article, True
        except IntegrityError:  # another request stored it first
            article = session.scalar(select(Article).where(Article.site_id == site_id,
                                                           Article.thread_id == thread_id))
            if article is None:
                raise
    return article, False


def for_comments(session: Session, comments: Iterable[Comment]) -> dict[tuple[int, str], Article]:
    """The articles of these comments, keyed by (site id, thread id)."""
    keys = {(c.site_id, c.thread_id) for c in comments if c.thread_id}
    if not keys:
        return {}
    sites = {s for s, _ in keys}
    threads = {t for _, t in keys}
    rows = session.scalars(select(Article).where(Article.site_id.in_(sites), Article.thread_id.in_(threads)))
    return {(a.site_id, a.thread_id): a for a in rows if (a.site_id, a.thread_id) in keys}


@dataclass
class ArticleRow:
    article: Article
    counts: dict[str, int]
    total: int
    reported: int = 0  # comments readers reported

    @property
    def flag_rate(self) -> float | None:
        """Share of the decided comments that the model or the readers flagged or that were rejected."""
        decided = self.total - self.counts.get("pending", 0)
        if decided <= 0:
            return None
        return (self.counts.get("flagged", 0) + self.counts.get("rejected", 0)) / decided


ARTICLE_SORTS = ("activity", "flagged", "comments")


def _counts(keys: list[tuple[int, str]] | None = None):
    """Comment counts per (site, thread): total, reported, and per status; only for ``keys`` if given."""
    columns = [func.count(case((Comment.status == s, 1))).label(s) for s in STATUSES]
    stmt = (select(Comment.site_id, Comment.thread_id, func.count().label("total"),
                   func.count(case((Comment.report_count > 0, 1))).label("reported"), *columns)
            .where(Comment.thread_id.is_not(None)).group_by(Comment.site_id, Comment.thread_id))
    if keys is not None:
        stmt = stmt.where(or_(*[and_(Comment.site_id == site, Comment.thread_id == thread) for site, thread in keys]))
    return stmt


def _row(article: Article, values) -> ArticleRow:
    if values is None:
        return ArticleRow(article, {s: 0 for s in STATUSES}, 0, 0)
    return ArticleRow(article, {s: values[s] or 0 for s in STATUSES}, values["total"] or 0, values["reported"] or 0)


def article_list(session: Session, site_id: int | None = None, sort: str = "activity", limit: int = 50,
                 offset: int = 0) -> tuple[list[ArticleRow], bool]:
    """Articles with their comment counts per status, most recently active first (or most flagged, or most
    commented). Returns the rows and whether there are more. By activity, a page of articles is read first (index
    on ``last_seen_at``) and only its comments are counted (index on ``(site_id, thread_id)``); the other orders
    count every thread's comments."""
    if sort == "activity":
        stmt = select(Article).order_by(Article.last_seen_at.desc(), Article.id.desc())
        if site_id:
            stmt = stmt.where(Article.site_id == site_id)
        found = list(session.scalars(stmt.limit(limit + 1).offset(offset)))
        page = found[:limit]
        counts = {}
        if page:
            for row in session.execute(_counts([(a.site_id, a.thread_id) for a in page])):
                counts[(row.site_id, row.thread_id)] = row._mapping
        return [_row(a, counts.get((a.site_id, a.thread_id))) for a in page], len(found) > limit
    counts = _counts().subquery()
    stmt = (select(Article, counts).outerjoin(counts, (counts.c.site_id == Article.site_id)
                                               & (counts.c.thread_id == Article.thread_id)))
    if site_id:
        stmt = stmt.where(Article.site_id == site_id)
    key = counts.c.flagged if sort == "flagged" else counts.c.total
    stmt = stmt.order_by(func.coalesce(key, 0).desc(), Article.last_seen_at.desc(), Article.id.desc())
    rows = session.execute(stmt.limit(limit + 1).offset(offset)).all()
    return [_row(row[0], row._mapping if row._mapping["total"] is not None else None) for row in rows[:limit]], (
        len(rows) > limit)


@dataclass
class Node:
    comment: Comment
    depth: int
    parent_missing: bool = False  # a reply to a comment Vigie never received


@dataclass
class Conversation:
    nodes: list[Node] = field(default_factory=list)
    truncated: bool = False


def conversation(session: Session, site_id: int, thread_id: str, limit: int = MAX_CONVERSATION) -> Conversation:
    """The thread's comments as they read on the site: each top-level comment in the order received, followed
    by its replies (depth first, in the order received). Replies link to their parent by the parent's external
    id (``parent_id``, as the API accepts it); a reply whose parent is missing is shown at the top level."""
    comments = list(session.scalars(select(Comment).where(Comment.site_id == site_id, Comment.thread_id == thread_id)
                                    .order_by(Comment.received_at, Comment.id).limit(limit + 1)))
    truncated = len(comments) > limit
    comments = comments[:limit]
    by_external = {c.external_id: c for c in comments if c.external_id}
    children: dict[int, list[Comment]] = {}
    roots: list[tuple[Comment, bool]] = []
    for c in comments:
        parent = by_external.get(c.parent_id) if c.parent_id else None
        if parent is not None and parent.id != c.id:
            children.setdefault(parent.id, []).append(c)
        else:
            roots.append((c, bool(c.parent_id)))
    out: list[Node] = []
    seen: set[int] = set()
    stack = [(c, 0, missing) for c, missing in reversed(roots)]
    while stack:
        comment, depth, missing = stack.pop()
        if comment.id in seen:
            continue
        seen.add(comment.id)
        out.append(Node(comment, min(depth, MAX_DEPTH), missing))
        for child in reversed(children.get(comment.id, [])):
            stack.append((child, depth + 1, False))
    for c in comments:  # a cycle of replies (a → b → a) has no root: still shown, at the top level
        if c.id not in seen:
            seen.add(c.id)
            out.append(Node(c, 0, True))
    return Conversation(out, truncated)
