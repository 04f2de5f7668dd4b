"""SQLAlchemy 2 models. The same code runs on SQLite and PostgreSQL; schema changes go through Alembic
(core/migrations). Comment text is stored as given and only ever bound as a parameter."""
from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from core.vocabulary import Actor, Status  # noqa: F401  (re-exported next to the models that use them)


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


class Base(DeclarativeBase):
    type_annotation_map = {dict[str, Any]: JSON, list[Any]: JSON}


TZDateTime = DateTime(timezone=True)


class Site(Base):
    __tablename__ = "sites"

    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    # Policy: thresholds per label, reject threshold, word lists, banned-word action. See core/policy.py.
    policy: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    # Reasons a moderator can pick when rejecting.
    reject_reasons: Mapped[list[Any]] = mapped_column(JSON, default=list)
    callback_url: Mapped[str | None] = mapped_column(String(2000))
    # IANA time zone the dashboard shows this site's dates in.
    timezone: Mapped[str] = mapped_column(String(64), default="Europe/Paris", server_default="Europe/Paris")
    # A comment reported by this many distinct readers is flagged even if the model approved it (core.reports).
    report_threshold: Mapped[int] = mapped_column(Integer, default=3, server_default="3")
    # HMAC secrets for signed webhooks in and out and for Coral (several, so they can roll). Must be
    # recoverable to compute signatures, so they are stored as given: protect the database.
    signing_secrets: Mapped[list[Any]] = mapped_column(JSON, default=list)
    created_at: Mapped[datetime] = mapped_column(TZDateTime, default=utcnow)

    api_keys: Mapped[list[ApiKey]] = relationship(back_populates="site")


class ApiKey(Base):
    """An API key is shown once; only its SHA-256 is stored (keys are 32 random bytes, so a fast hash is safe)."""

    __tablename__ = "api_keys"

    id: Mapped[int] = mapped_column(primary_key=True)
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(200), default="")
    prefix: Mapped[str] = mapped_column(String(16), index=True)
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(TZDateTime, default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column(TZDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(TZDateTime)

    site: Mapped[Site] = relationship(back_populates="api_keys")


class Comment(Base):
    __tablename__ = "comments"
    __table_args__ = (
        UniqueConstraint("site_id", "external_id", name="uq_comments_site_external"),
        Index("ix_comments_site_status_id", "site_id", "status", "id"),
        Index("ix_comments_status_id", "status", "id"),
        Index("ix_comments_status_score", "status", "score"),
        Index("ix_comments_site_author", "site_id", "author_id"),
        Index("ix_comments_author_id", "author_id"),  # dashboard author filter (0002)
        Index("ix_comments_author_name", "author_name"),
        Index("ix_comments_site_thread", "site_id", "thread_id", "id"),  # queue per article, conversation (0008)
        Index("ix_comments_reported", "report_count", "id"),  # the "reported" queue (0008)
        Index("ix_comments_decided_at", "decided_at"),  # retention (0010)
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id", ondelete="CASCADE"))
    external_id: Mapped[str | None] = mapped_column(String(200))
    text: Mapped[str] = mapped_column(Text)  # what is scored and shown to moderators
    # The body exactly as the source sent it, when that differs from ``text`` (Coral's HTML, markup removed in text)
    original_text: Mapped[str | None] = mapped_column(Text)
    author_id: Mapped[str | None] = mapped_column(String(200))
    author_name: Mapped[str | None] = mapped_column(String(200))
    thread_id: Mapped[str | None] = mapped_column(String(200))
    thread_url: Mapped[str | None] = mapped_column(String(2000))
    parent_id: Mapped[str | None] = mapped_column(String(200))  # the parent's external id
    language: Mapped[str | None] = mapped_column(String(16))
    source: Mapped[str] = mapped_column(String(32), default="api")  # api, webhook, coral, perspective
    status: Mapped[str] = mapped_column(String(16), default=Status.pending.value)
    decided_by: Mapped[str | None] = mapped_column(String(16))  # Actor of the current status
    score: Mapped[float | None] = mapped_column(Float)  # toxicity score, for sorting
    received_at: Mapped[datetime] = mapped_column(TZDateTime, default=utcnow, index=True)
    decided_at: Mapped[datetime | None] = mapped_column(TZDateTime)
    updated_at: Mapped[datetime] = mapped_column(TZDateTime, default=utcnow, onupdate=utcnow)
    # Distinct readers who reported it (CommentReport rows), kept here for the "reported" queue's order.
    report_count: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # Set when the text, author and spans were erased (core/erasure.py: a request, or VIGIE_RETENTION_DAYS); the
    # row stays as a tombstone with its scores and decision so statistics and the audit log add up.
    erased_at: Mapped[datetime | None] = mapped_column(TZDateTime)

    site: Mapped[Site] = relationship()
    result: Mapped[ModelResult | None] = relationship(back_populates="comment", uselist=False)


class ModelResult(Base):
    """One row per comment (unique): a comment scored twice after a crash still has one result."""

    __tablename__ = "model_results"

    id: Mapped[int] = mapped_column(primary_key=True)
    comment_id: Mapped[int] = mapped_column(ForeignKey("comments.id", ondelete="CASCADE"), unique=True)
    scores: Mapped[dict[str, Any]] = mapped_column(JSON)  # label -> probability
    model_name: Mapped[str] = mapped_column(String(200))
    model_version: Mapped[str] = mapped_column(String(100))
    latency_ms: Mapped[float] = mapped_column(Float)
    # The model's own toxicity threshold when it scored (a site model has its own; migration 0009), so a policy
    # can be replayed on stored results exactly (core/feedback.py). None for results stored before 0009.
    threshold: Mapped[float | None] = mapped_column(Float)
    # Character spans that raised the score most: [{"start", "end", "text", "weight"}]
    spans: Mapped[list[Any] | None] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(TZDateTime, default=utcnow)

    comment: Mapped[Comment] = relationship(back_populates="result")


class AuditEntry(Base):
    """Append-only log of every decision and settings change."""

    __tablename__ = "audit_log"
    __table_args__ = (Index("ix_audit_comment", "comment_id", "id"), Index("ix_audit_site_id", "site_id", "id"))

    id: Mapped[int] = mapped_column(primary_key=True)
    site_id: Mapped[int | None] = mapped_column(ForeignKey("sites.id", ondelete="SET NULL"))
    comment_id: Mapped[int | None] = mapped_column(ForeignKey("comments.id", ondelete="SET NULL"))
    actor: Mapped[str] = mapped_column(String(16))  # Actor
    actor_name: Mapped[str] = mapped_column(String(200), default="")
    action: Mapped[str] = mapped_column(String(40))  # approved, flagged, rejected, undo, settings, key_created...
    status_from: Mapped[str | None] = mapped_column(String(16))
    status_to: Mapped[str | None] = mapped_column(String(16))
    reasons: Mapped[list[Any]] = mapped_column(JSON, default=list)
    note: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(TZDateTime, default=utcnow, index=True)


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(100), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(16), default="moderator")  # moderator, admin
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    locale: Mapped[str | None] = mapped_column(String(8))  # dashboard language (fr, en); None: the browser's
    created_at: Mapped[datetime] = mapped_column(TZDateTime, default=utcnow)
    # Bumped at logout: sessions carry the generation they began with (service.security), older ones are refused.
    session_generation: Mapped[int] = mapped_column(Integer, default=0, server_default="0")


class ScoreLabel(Base):
    """A score or label someone sent us (Perspective suggestscore, imports) for evaluation and retraining."""

    __tablename__ = "score_labels"

    id: Mapped[int] = mapped_column(primary_key=True)
    site_id: Mapped[int | None] = mapped_column(ForeignKey("sites.id", ondelete="CASCADE"), index=True)
    comment_id: Mapped[int | None] = mapped_column(ForeignKey("comments.id", ondelete="SET NULL"))
    text: Mapped[str | None] = mapped_column(Text)
    attribute: Mapped[str] = mapped_column(String(64))
    score: Mapped[float] = mapped_column(Float)
    source: Mapped[str] = mapped_column(String(32), default="suggestscore")
    client_token: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(TZDateTime, default=utcnow)


class WebhookDelivery(Base):
    """One outgoing event to a site's callback URL; its attempts are in DeliveryAttempt."""

    __tablename__ = "webhook_deliveries"

    id: Mapped[int] = mapped_column(primary_key=True)
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id", ondelete="CASCADE"), index=True)
    comment_id: Mapped[int | None] = mapped_column(ForeignKey("comments.id", ondelete="SET NULL"))
    event: Mapped[str] = mapped_column(String(64))
    url: Mapped[str] = mapped_column(String(2000))
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    state: Mapped[str] = mapped_column(String(16), default="pending")  # pending, delivered, failed
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column(TZDateTime)
    delivered_at: Mapped[datetime | None] = mapped_column(TZDateTime)
    created_at: Mapped[datetime] = mapped_column(TZDateTime, default=utcnow, index=True)


class DeliveryAttempt(Base):
    __tablename__ = "delivery_attempts"

    id: Mapped[int] = mapped_column(primary_key=True)
    delivery_id: Mapped[int] = mapped_column(ForeignKey("webhook_deliveries.id", ondelete="CASCADE"), index=True)
    attempted_at: Mapped[datetime] = mapped_column(TZDateTime, default=utcnow)
    status_code: Mapped[int | None] = mapped_column(Integer)
    error: Mapped[str | None] = mapped_column(Text)
    duration_ms: Mapped[float] = mapped_column(Float, default=0.0)


class Article(Base):
    """The story a thread of comments belongs to, per (site, thread id): its title and URL as the comment system
    last sent them (core.articles), and when its comments were first and last received."""

    __tablename__ = "articles"
    __table_args__ = (UniqueConstraint("site_id", "thread_id", name="uq_articles_site_thread"),
                      Index("ix_articles_last_seen", "last_seen_at"))

    id: Mapped[int] = mapped_column(primary_key=True)
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id", ondelete="CASCADE"))
    thread_id: Mapped[str] = mapped_column(String(200))
    title: Mapped[str | None] = mapped_column(String(300))
    url: Mapped[str | None] = mapped_column(String(2000))  # http(s) only
    first_seen_at: Mapped[datetime] = mapped_column(TZDateTime, default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(TZDateTime, default=utcnow)

    site: Mapped[Site] = relationship()


class CommentReport(Base):
    """A reader's report of a comment ("signaler"), at most one per (comment, reporter) (core.reports)."""

    __tablename__ = "comment_reports"
    __table_args__ = (UniqueConstraint("comment_id", "reporter_id", name="uq_reports_comment_reporter"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    comment_id: Mapped[int] = mapped_column(ForeignKey("comments.id", ondelete="CASCADE"))
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id", ondelete="CASCADE"), index=True)
    reporter_id: Mapped[str] = mapped_column(String(200))
    reason: Mapped[str] = mapped_column(String(64))
    text: Mapped[str | None] = mapped_column(String(1000))
    source: Mapped[str] = mapped_column(String(32), default="api")  # api, webhook
    created_at: Mapped[datetime] = mapped_column(TZDateTime, default=utcnow)


class SiteModel(Base):
    """A site's own model (issue 13): a classification head (+ threshold) over the shared encoder, trained on the
    site's moderator decisions. ``status``: candidate (trained, not used), active (the site's model; at most one
    per site), retired (was active), declined. Weights are a safetensors blob (never pickle)."""

    __tablename__ = "site_models"
    __table_args__ = (UniqueConstraint("site_id", "number", name="uq_site_models_site_number"),
                      Index("ix_site_models_status_site", "status", "site_id"))

    id: Mapped[int] = mapped_column(primary_key=True)
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id", ondelete="CASCADE"), index=True)
    number: Mapped[int] = mapped_column(Integer)  # 1, 2, ... per site
    name: Mapped[str] = mapped_column(String(200))  # the shared model's name, e.g. vigie-fr-toxicity
    base_version: Mapped[str] = mapped_column(String(100))  # the shared model's version it was trained over
    version: Mapped[str] = mapped_column(String(100))  # e.g. 2026.11.1+site-lemonde.3 (stored with each result)
    kind: Mapped[str] = mapped_column(String(32), default="head")
    status: Mapped[str] = mapped_column(String(16), default="candidate")
    threshold: Mapped[float] = mapped_column(Float)
    weights: Mapped[bytes] = mapped_column(LargeBinary)  # safetensors bytes
    metrics: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)  # held-back figures, candidate vs current
    trained_by: Mapped[str] = mapped_column(String(200), default="")
    previous_id: Mapped[int | None] = mapped_column(Integer)  # the model active before this one was promoted
    created_at: Mapped[datetime] = mapped_column(TZDateTime, default=utcnow)
    promoted_at: Mapped[datetime | None] = mapped_column(TZDateTime)


class AuthorStanding(Base):
    """An author's current restrictions on one site (the author id as the site sends it). Written only by
    ``core.author_actions``; read by the decision path (``core.authors.restriction``). No row: no restriction."""

    __tablename__ = "author_standings"
    __table_args__ = (UniqueConstraint("site_id", "author_id", name="uq_author_standings_site_author"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id", ondelete="CASCADE"))
    author_id: Mapped[str] = mapped_column(String(200))
    banned: Mapped[bool] = mapped_column(Boolean, default=False)
    banned_at: Mapped[datetime | None] = mapped_column(TZDateTime)
    suspended_until: Mapped[datetime | None] = mapped_column(TZDateTime)  # in the past: no longer suspended
    premoderated: Mapped[bool] = mapped_column(Boolean, default=False)
    warnings: Mapped[int] = mapped_column(Integer, default=0)  # warnings in force (withdrawn ones not counted)
    updated_at: Mapped[datetime] = mapped_column(TZDateTime, default=utcnow, onupdate=utcnow)


class AuthorAction(Base):
    """Append-only history of what moderators did about an author (ban, suspend, pre-moderate, warn, note, their
    reversals, bulk rejections). A reversal is a new row pointing at the action it reverts (``reverts_id``); the
    reverted row only gets ``reverted_at``."""

    __tablename__ = "author_actions"
    __table_args__ = (Index("ix_author_actions_site_author", "site_id", "author_id", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id", ondelete="CASCADE"))
    author_id: Mapped[str] = mapped_column(String(200))
    action: Mapped[str] = mapped_column(String(32))  # core.author_actions.ACTIONS
    until: Mapped[datetime | None] = mapped_column(TZDateTime)  # end of a suspension
    reason: Mapped[str | None] = mapped_column(Text)  # the moderator's reason, warning message or note
    actor: Mapped[str] = mapped_column(String(16))  # Actor
    actor_name: Mapped[str] = mapped_column(String(200), default="")
    reverts_id: Mapped[int | None] = mapped_column(ForeignKey("author_actions.id", ondelete="SET NULL"))
    reverted_at: Mapped[datetime | None] = mapped_column(TZDateTime)
    comment_count: Mapped[int | None] = mapped_column(Integer)  # comments changed (bulk rejection)
    created_at: Mapped[datetime] = mapped_column(TZDateTime, default=utcnow)
