"""Labels from decisions (issue 13): every human decision on a site's comments becomes a labelled example.

Sources of labels:
* moderator or admin decisions recorded in the audit log (``core.decisions.record_decision``): the dashboard, the
  REST API override (``POST /api/v1/comments/<id>/decision``), and any integration that records a human decision;
  comments that came in through Coral or a signed webhook carry their ``source``;
* Perspective ``comments:suggestscore`` (``score_labels`` rows, summary scores only): a score of 0.5 or more on an
  attribute is a toxic example with that category.

Rules: approve = not toxic; reject = toxic, with the reject reason mapped to a category where one fits
(``category_for``); a moderator putting a comment back to ``flagged`` or ``pending`` is no label; the latest human
decision on a comment wins; an undo cancels the decision it undid (the one before it counts again, if any); a text
sent with ``doNotStore`` is never stored, so it never enters. Several examples with the same text keep the latest.
"""
from __future__ import annotations

import csv
import unicodedata
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import IO, Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.storage.models import AuditEntry, Comment, ModelResult, ScoreLabel
from core.vocabulary import LABELS, Actor, Status

HUMAN_ACTORS = (Actor.moderator.value, Actor.admin.value)
CATEGORY_LABELS = ("insult", "threat", "identity_attack", "obscene")
# Folded (lower-case, no accents) keyword stems -> category. French first, English too.
CATEGORY_KEYWORDS: dict[str, tuple[str, ...]] = {
    "threat": ("menace", "threat", "intimidation", "violence", "appel au meurtre"),
    "identity_attack": ("haine", "haineu", "racis", "xenophob", "antisemit", "homophob", "transphob", "sexis",
                        "misogyn", "discrimin", "identit", "hate"),
    "insult": ("insult", "injur", "injure", "attaque personnelle", "harcel", "mepris", "offens"),
    "obscene": ("obscen", "vulgar", "grossier", "grossierete", "porno", "sexuel", "profan", "juron"),
}
SUGGEST_SOURCE = "suggestscore"


def _fold(text: str) -> str:
    t = unicodedata.normalize("NFD", text.lower())
    return "".join(c for c in t if unicodedata.category(c) != "Mn")


def category_for(reason: str | None) -> str | None:
    """The label a reject reason names ("Insulte" -> insult, "Propos haineux" -> identity_attack, "Menaces" ->
    threat, "Vulgarité" -> obscene), or None when none fits (spam, off-topic...)."""
    if not reason:
        return None
    folded = _fold(reason)
    for label, stems in CATEGORY_KEYWORDS.items():
        if any(stem in folded for stem in stems):
            return label
    return None


@dataclass
class LabelledExample:
    text: str
    toxic: int  # 1 = the moderators want it out, 0 = fine
    categories: list[str]  # labels named by the reject reason (may be empty)
    decided_at: datetime
    moderator: str
    source: str  # where the comment came from (api, webhook, coral, perspective) or "suggestscore"
    comment_id: int | None = None
    reason: str | None = None
    scores: dict[str, float] = field(default_factory=dict)  # the model's scores when the comment was decided
    model_name: str | None = None
    model_version: str | None = None
    threshold: float | None = None  # the model's own threshold when it scored

    def label_values(self) -> dict[str, float | None]:
        """Per model label: 1, 0, or None (unknown: a rejection without a category says nothing of threat...)."""
        out: dict[str, float | None] = {}
        for label in LABELS:
            if label == "toxicity":
                out[label] = float(self.toxic)
            elif not self.toxic:
                out[label] = 0.0
            elif label in self.categories:
                out[label] = 1.0
            else:
                out[label] = None
        return out


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=timezone.utc)


def _reason_of(entry: AuditEntry) -> str | None:
    for reason in entry.reasons or []:
        if isinstance(reason, dict) and reason.get("kind") == "reason" and isinstance(reason.get("text"), str):
            return reason["text"]
    return None


def _winning_entries(entries: list[AuditEntry]) -> dict[int, AuditEntry]:
    """Per comment, the human decision that stands: entries in order, an undo pops the decision it undid."""
    stacks: dict[int, list[AuditEntry]] = {}
    for entry in entries:
        stack = stacks.setdefault(entry.comment_id, [])
        if entry.action == "undo":
            if stack:
                stack.pop()
            continue
        stack.append(entry)
    out = {}
    for comment_id, stack in stacks.items():
        if stack and stack[-1].status_to in (Status.approved.value, Status.rejected.value):
            out[comment_id] = stack[-1]
    return out


def decision_examples(session: Session, site_id: int) -> list[LabelledExample]:
    entries = list(session.scalars(
        select(AuditEntry).where(AuditEntry.site_id == site_id, AuditEntry.comment_id.is_not(None),
                                 AuditEntry.actor.in_(HUMAN_ACTORS)).order_by(AuditEntry.id)))
    winners = _winning_entries(entries)
    if not winners:
        return []
    rows = session.execute(
        select(Comment.id, Comment.text, Comment.source, ModelResult.scores, ModelResult.model_name,
               ModelResult.model_version, ModelResult.threshold)
        .outerjoin(ModelResult, ModelResult.comment_id == Comment.id)
        .where(Comment.site_id == site_id, Comment.id.in_(list(winners)))).all()
    out = []
    for comment_id, text, source, scores, model_name, model_version, threshold in rows:
        if not text:  # erased (core/erasure.py): its words are gone, and so is the label
            continue
        entry = winners[comment_id]
        toxic = 1 if entry.status_to == Status.rejected.value else 0
        reason = _reason_of(entry) if toxic else None
        category = category_for(reason)
        categories = [category] if category else []
        out.append(LabelledExample(
            text=text, toxic=toxic, categories=categories, decided_at=_aware(entry.created_at),
            moderator=entry.actor_name or entry.actor, source=source or "api", comment_id=comment_id, reason=reason,
            scores={k: float(v) for k, v in (scores or {}).items() if isinstance(v, (int, float))},
            model_name=model_name, model_version=model_version, threshold=threshold))
    return out


def suggestion_examples(session: Session, site_id: int) -> list[LabelledExample]:
    """Perspective ``suggestscore`` summary scores, grouped by (text, client token): one example per request."""
    rows = list(session.scalars(select(ScoreLabel).where(ScoreLabel.site_id == site_id,
                                                         ScoreLabel.source == SUGGEST_SOURCE,
                                                         ScoreLabel.text.is_not(None)).order_by(ScoreLabel.id)))
    grouped: dict[tuple[str, str | None], list[ScoreLabel]] = {}
    for row in rows:
        grouped.setdefault((row.text, row.client_token), []).append(row)
    out = []
    for (text, token), group in grouped.items():
        latest: dict[str, float] = {}
        for row in group:
            latest[row.attribute] = row.score
        categories = [k for k, v in latest.items() if k in CATEGORY_LABELS and v >= 0.5]
        toxic = int(latest.get("toxicity", 0.0) >= 0.5 or latest.get("severe_toxicity", 0.0) >= 0.5
                    or bool(categories))
        out.append(LabelledExample(text=text, toxic=toxic, categories=categories if toxic else [],
                                   decided_at=_aware(group[-1].created_at), moderator=token or SUGGEST_SOURCE,
                                   source=SUGGEST_SOURCE))
    return out


def site_labels(session: Session, site_id: int, since: datetime | None = None,
                until: datetime | None = None) -> list[LabelledExample]:
    """The site's labelled examples, oldest decision first (so the newest can be held back), decided in
    [since, until). One example per text: the latest decision wins."""
    examples = decision_examples(session, site_id) + suggestion_examples(session, site_id)
    examples.sort(key=lambda e: (e.decided_at, e.comment_id or 0))
    by_text: dict[str, LabelledExample] = {}
    for example in examples:
        by_text.pop(example.text, None)
        by_text[example.text] = example  # re-inserted: keeps decision order
    out = list(by_text.values())
    if since is not None:
        out = [e for e in out if e.decided_at >= _aware(since)]
    if until is not None:
        out = [e for e in out if e.decided_at < _aware(until)]
    return out


CSV_COLUMNS = ["comment_id", "text", "label", "labels", "reason", "decided_at", "moderator", "source",
               *[f"score_{label}" for label in LABELS], "model_name", "model_version"]


def write_csv(examples: list[LabelledExample], out: IO[str]) -> int:
    """CSV of the examples: ``label`` 1/0 (toxic or not), ``labels`` the labels that apply separated by ``;``
    (``toxicity`` plus a category), the reason, who decided when, the model's scores at decision time and the
    model name and version that produced them. Also readable by ``vigie train --data-dir`` as a generic file."""
    writer = csv.writer(out)
    writer.writerow(CSV_COLUMNS)
    for e in examples:
        labels = (["toxicity"] + e.categories) if e.toxic else []
        writer.writerow([e.comment_id or "", e.text, e.toxic, ";".join(labels), e.reason or "",
                         e.decided_at.isoformat(), e.moderator, e.source,
                         *["" if label not in e.scores else round(e.scores[label], 6) for label in LABELS],
                         e.model_name or "", e.model_version or ""])
    return len(examples)


def summary(examples: list[LabelledExample]) -> dict[str, Any]:
    return {"examples": len(examples), "toxic": sum(e.toxic for e in examples),
            "categories": {c: sum(c in e.categories for e in examples) for c in CATEGORY_LABELS}}
