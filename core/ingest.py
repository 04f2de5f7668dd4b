"""Accepting comments: validation schema, idempotent storage, then scheduling. Shared by the REST API, the signed
webhook and the Coral integration. The comment is committed as ``pending`` before anything touches Redis; if
Redis is down the request still succeeds and the reconciler schedules the comment later."""
from __future__ import annotations

import logging
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints, field_validator
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from core import articles, metrics, queues
from core.inputlimits import no_nul
from core.services import Services
from core.storage.models import Comment, Site

log = logging.getLogger(__name__)

Short = Annotated[str, StringConstraints(strip_whitespace=True, max_length=200), AfterValidator(no_nul)]


class CommentIn(BaseModel):
    """One comment as sent by a site. Unknown fields are refused (400) so typos don't pass silently."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=False)

    text: Annotated[str, StringConstraints(min_length=1)]
    external_id: Short | None = Field(None, description="The site's own id; retries with the same id are idempotent.")
    author_id: Short | None = None
    author_name: Short | None = None
    thread_id: Short | None = Field(None, description="Story or thread id.")
    thread_url: Annotated[str, StringConstraints(max_length=2000), AfterValidator(no_nul)] | None = Field(
        None, description="The story's URL (http or https; kept on the article, shown as a link).")
    thread_title: Annotated[str, StringConstraints(strip_whitespace=True, max_length=articles.MAX_TITLE),
                            AfterValidator(no_nul)] | None = Field(None, description="The story's title.")
    parent_id: Short | None = Field(None, description="External id of the comment this one replies to.")
    language: Annotated[str, StringConstraints(max_length=16), AfterValidator(no_nul)] | None = None

    @field_validator("external_id", "author_id", "author_name", "thread_id", "thread_url", "thread_title",
                     "parent_id", "language")
    @classmethod
    def _blank_is_absent(cls, value: str | None) -> str | None:
        """An empty id is no id: two comments sent with ``"external_id": ""`` are two comments."""
        return value or None


def check_text(text: str, max_chars: int | None = None, field: str = "text") -> str | None:
    """Why a comment text cannot be accepted (``"text: ..."``), or None: empty, too long, or holding what no
    database stores (NUL characters, unpaired UTF-16 surrogates). Every ingest path uses it."""
    if not text.strip():
        return f"{field}: must not be empty"
    if max_chars is not None and len(text) > max_chars:
        return f"{field}: longer than {max_chars} characters ({len(text)})"
    if "\x00" in text:
        return f"{field}: must not contain NUL characters"
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return f"{field}: must not contain unpaired surrogates"
    return None


def store(session: Session, site: Site, items: list[CommentIn], source: str,
          original_texts: list[str | None] | None = None) -> list[tuple[Comment, bool]]:
    """Store comments (idempotent on (site, external_id)) and commit. Returns (comment, created) in input order.
    ``original_texts``: per item, the body as the source sent it when ``text`` is derived from it (Coral's HTML)."""
    results: list[tuple[Comment, bool]] = []
    noted: set[tuple[str, str | None, str | None]] = set()
    for index, item in enumerate(items):
        existing = None
        if item.external_id:
            existing = session.scalar(select(Comment).where(Comment.site_id == site.id,
                                                            Comment.external_id == item.external_id))
        if existing is not None:
            results.append((existing, False))
            continue
        comment = Comment(site_id=site.id, source=source, **item.model_dump(exclude={"thread_title"}),
                          original_text=original_texts[index] if original_texts else None)
        try:
            with session.begin_nested():
                session.add(comment)
                session.flush()
        except IntegrityError:  # a concurrent retry stored it first
            existing = session.scalar(select(Comment).where(Comment.site_id == site.id,
                                                            Comment.external_id == item.external_id))
            if existing is None:
                raise
            results.append((existing, False))
            continue
        results.append((comment, True))
        if item.thread_id:
            key = (item.thread_id, item.thread_title, item.thread_url)
            if key not in noted:  # a batch in one thread: one statement
                noted.add(key)
                articles.note(session, site.id, item.thread_id, item.thread_title, item.thread_url)
    session.commit()
    metrics.received(source, sum(1 for _, created in results if created))
    return results


def schedule(services: Services, comment_ids: list[int]) -> bool:
    """Queue stored comments for scoring; False (logged) if Redis is unavailable: the reconciler will retry."""
    try:
        queues.schedule(services.redis, comment_ids, services.settings.job_timeout_s)
        return True
    except Exception:  # redis down, timeouts: the comments are stored, nothing is lost
        log.warning("could not enqueue %d comment(s); the reconciler will pick them up", len(comment_ids),
                    exc_info=True)
        return False
