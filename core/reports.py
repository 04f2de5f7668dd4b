"""Reader reports ("signaler"): comment systems forward a reader's report of a comment with a reason. One report
per (comment, reporter): a repeated report changes nothing. The comment's ``report_count`` orders the dashboard's
"reported" queue; once it reaches the site's ``report_threshold`` a comment the model (or a word rule) approved
is flagged for a moderator by ``core.decisions.report_comment`` / ``flag_if_reported``, through ``record_decision``
(actor ``system``, name ``reports``), so the audit log and the site's callback see it. Reports never change a
rejected comment, nor overrule a moderator's approval."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from core.inputlimits import no_nul
from core.storage.models import Comment, CommentReport, Site
from core.vocabulary import Actor, Status

DEFAULT_THRESHOLD = 3
MAX_THRESHOLD = 1000
MAX_REPORT_TEXT = 1000
REPORTS_ACTOR_NAME = "reports"
# Reasons comment systems commonly send (Coral's report reasons among them); others are kept as sent.
KNOWN_REASONS = ("offensive", "abusive", "spam", "off_topic", "misinformation", "harassment", "other")
_CORAL_REASONS = {"comment_reported_offensive": "offensive", "comment_reported_abusive": "abusive",
                  "comment_reported_spam": "spam", "comment_reported_other": "other",
                  "comment_reported_bio": "other"}


def normal_reason(reason: str) -> str:
    """``"COMMENT_REPORTED_SPAM"`` and ``" Spam "`` are ``"spam"``; other reasons lower-cased, spaces as ``_``."""
    key = "_".join(reason.strip().lower().replace("-", " ").split())
    return _CORAL_REASONS.get(key, key)


class ReportIn(BaseModel):
    """A reader's report of a comment."""

    model_config = ConfigDict(extra="forbid")

    reason: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64),
                      AfterValidator(no_nul)] = Field(description="Why the reader reports it (offensive, spam, ...).")
    reporter_id: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200),
                           AfterValidator(no_nul)] = Field(description="The reader's id in the comment system.")
    text: Annotated[str, StringConstraints(strip_whitespace=True, max_length=MAX_REPORT_TEXT),
                    AfterValidator(no_nul)] | None = Field(None, description="The reader's own words.")


@dataclass
class Outcome:
    report: CommentReport
    created: bool
    flagged: bool  # this report brought the comment to the site's threshold and flagged it


def threshold_of(site: Site) -> int:
    value = site.report_threshold
    return value if isinstance(value, int) and value >= 1 else DEFAULT_THRESHOLD


def add_report(session: Session, comment: Comment, body: ReportIn, source: str = "api") -> Outcome:
    """Record a reader's report (idempotent per reporter) and recount the comment's reports. Does not commit; the
    threshold is applied by ``core.decisions.report_comment``, which calls this."""
    existing = session.scalar(select(CommentReport).where(CommentReport.comment_id == comment.id,
                                                          CommentReport.reporter_id == body.reporter_id))
    if existing is not None:
        return Outcome(existing, False, False)
    row = CommentReport(comment_id=comment.id, site_id=comment.site_id, reporter_id=body.reporter_id,
                        reason=normal_reason(body.reason), text=body.text or None, source=source)
    try:
        with session.begin_nested():
            session.add(row)
            session.flush()
    except IntegrityError:  # the same reader's report, sent twice at once
        existing = session.scalar(select(CommentReport).where(CommentReport.comment_id == comment.id,
                                                              CommentReport.reporter_id == body.reporter_id))
        if existing is None:
            raise
        return Outcome(existing, False, False)
    # Counted, not incremented: two reports at once still leave the right number.
    comment.report_count = session.scalar(select(func.count()).select_from(CommentReport)
                                          .where(CommentReport.comment_id == comment.id)) or 0
    return Outcome(row, True, False)


def should_flag(comment: Comment, site: Site) -> bool:
    """Whether readers' reports flag this comment now: approved automatically (model or word rule) and reported by
    at least the site's threshold. Pending comments wait for the model; flagged and rejected ones stay as they are;
    a moderator's approval stands."""
    return (comment.status == Status.approved.value and comment.decided_by in (Actor.model.value, Actor.rule.value)
            and (comment.report_count or 0) >= threshold_of(site))


def reports_reason(session: Session, comment: Comment, threshold: int) -> dict[str, Any]:
    """``{"kind": "reports", "count", "threshold", "reasons": {reason: n}}``: why readers' reports flagged it."""
    return {"kind": "reports", "count": comment.report_count, "threshold": threshold,
            "reasons": reason_counts(session, [comment.id]).get(comment.id, {})}


def reason_counts(session: Session, comment_ids: list[int]) -> dict[int, dict[str, int]]:
    """Per comment, how many reports of each reason (most frequent first)."""
    if not comment_ids:
        return {}
    rows = session.execute(select(CommentReport.comment_id, CommentReport.reason, func.count())
                           .where(CommentReport.comment_id.in_(comment_ids))
                           .group_by(CommentReport.comment_id, CommentReport.reason))
    out: dict[int, dict[str, int]] = {}
    for comment_id, reason, n in sorted(rows, key=lambda r: (r[0], -r[2], r[1])):
        out.setdefault(comment_id, {})[reason] = n
    return out


def reader_texts(session: Session, comment_ids: list[int], per_comment: int = 3) -> dict[int, list[str]]:
    """Per comment, the latest readers' own words sent with their reports (at most ``per_comment``)."""
    if not comment_ids:
        return {}
    rows = session.execute(select(CommentReport.comment_id, CommentReport.text)
                           .where(CommentReport.comment_id.in_(comment_ids), CommentReport.text.is_not(None))
                           .order_by(CommentReport.id.desc()).limit(per_comment * 20 * len(comment_ids)))
    out: dict[int, list[str]] = {}
    for comment_id, words in rows:
        texts = out.setdefault(comment_id, [])
        if len(texts) < per_comment:
            texts.append(words)
    return out
