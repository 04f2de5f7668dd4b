"""Statistics, all computed with SQL aggregates (GROUP BY, SUM(CASE ...)), never by loading rows:
comments per day, flag rate, decisions by source, score distribution, and how often moderators overturn the
model per label and threshold (the figure a site needs to tune its thresholds)."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

from flask_babel import gettext
from flask import abort, render_template, request
from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from core import feedback
from service.context import db_session
from service.dashboard.blueprint import bp, is_row_id
from core.storage.models import AuditEntry, Comment, ModelResult, Site
from core.vocabulary import LABELS

THRESHOLDS = (0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)
BUCKETS = 10


def _count_if(condition):
    return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)


def _day(column) -> str:
    return func.date(column)


def per_day(session: Session, since: datetime, site_id: int | None) -> list[dict]:
    comments = select(_day(Comment.received_at).label("day"), func.count().label("n")).where(
        Comment.received_at >= since)
    auto = select(_day(AuditEntry.created_at).label("day"), func.count().label("n"),
                  _count_if(AuditEntry.status_to.in_(("flagged", "rejected"))).label("flagged")).where(
        AuditEntry.created_at >= since, AuditEntry.actor.in_(("model", "rule")))
    if site_id:
        comments = comments.where(Comment.site_id == site_id)
        auto = auto.where(AuditEntry.site_id == site_id)
    days: dict[str, dict] = {}
    for day, n in session.execute(comments.group_by("day")):
        days.setdefault(str(day), {"day": str(day), "comments": 0, "decided": 0, "flagged": 0})["comments"] = n
    for day, n, flagged in session.execute(auto.group_by("day")):
        row = days.setdefault(str(day), {"day": str(day), "comments": 0, "decided": 0, "flagged": 0})
        row["decided"], row["flagged"] = n, int(flagged)
    out = [days[k] for k in sorted(days)]
    for row in out:
        row["flag_rate"] = round(row["flagged"] / row["decided"], 4) if row["decided"] else None
    return out


def decisions_by_source(session: Session, since: datetime, site_id: int | None) -> list[dict]:
    stmt = (select(AuditEntry.actor, AuditEntry.status_to, func.count())
            .where(AuditEntry.created_at >= since, AuditEntry.status_to.is_not(None))
            .group_by(AuditEntry.actor, AuditEntry.status_to))
    if site_id:
        stmt = stmt.where(AuditEntry.site_id == site_id)
    return [{"actor": a, "status": st, "count": n} for a, st, n in session.execute(stmt)]


def score_distribution(session: Session, since: datetime, site_id: int | None) -> list[int]:
    columns = []
    for i in range(BUCKETS):
        low, high = i / BUCKETS, (i + 1) / BUCKETS
        cond = (Comment.score >= low) & ((Comment.score < high) if i < BUCKETS - 1 else (Comment.score <= 1.0))
        columns.append(_count_if(cond))
    stmt = select(*columns).where(Comment.received_at >= since, Comment.score.is_not(None))
    if site_id:
        stmt = stmt.where(Comment.site_id == site_id)
    return [int(x) for x in session.execute(stmt).one()]


def overturns(session: Session, since: datetime, site_id: int | None) -> dict:
    """Among comments a moderator decided, per label and threshold: how many the label would flag at that
    threshold (``above``), how many of those the moderator approved (``approved_above``: the model was
    overturned), and how many below it the moderator rejected (``rejected_below``: the model missed them)."""
    columns = [func.count(), _count_if(Comment.status == "approved")]
    keys = []
    for label in LABELS:
        value = ModelResult.scores[label].as_float()
        for t in THRESHOLDS:
            keys.append((label, t))
            columns += [_count_if(value >= t), _count_if((value >= t) & (Comment.status == "approved")),
                        _count_if((value < t) & (Comment.status == "rejected"))]
    stmt = (select(*columns).select_from(Comment).join(ModelResult, ModelResult.comment_id == Comment.id)
            .where(Comment.decided_by == "moderator", Comment.status.in_(("approved", "rejected")),
                   Comment.received_at >= since))
    if site_id:
        stmt = stmt.where(Comment.site_id == site_id)
    row = [int(x or 0) for x in session.execute(stmt).one()]
    table: dict[str, list[dict]] = {label: [] for label in LABELS}
    for i, (label, t) in enumerate(keys):
        above, approved_above, rejected_below = row[2 + 3 * i: 5 + 3 * i]
        table[label].append({"threshold": t, "above": above, "approved_above": approved_above,
                             "rejected_below": rejected_below,
                             "overturn_rate": round(approved_above / above, 4) if above else None})
    return {"reviewed": row[0], "approved": row[1], "rejected": row[0] - row[1], "labels": table}


@bp.route("/stats")
def stats():
    days_arg = request.args.get("days", "30")
    if not is_row_id(days_arg) or not 1 <= int(days_arg) <= 3650:
        abort(400, description=gettext("days: expected a number of days between 1 and 3650"))
    site_arg = request.args.get("site", "")
    if site_arg and not is_row_id(site_arg):
        abort(400, description=gettext("site: expected a site id"))
    site_id = int(site_arg) if site_arg else None
    days = int(days_arg)
    since = datetime.now(timezone.utc) - timedelta(days=days)
    s = db_session()
    data = {"per_day": per_day(s, since, site_id), "by_source": decisions_by_source(s, since, site_id),
            "score_buckets": score_distribution(s, since, site_id), "overturns": overturns(s, since, site_id),
            "thresholds": list(THRESHOLDS), "labels": list(LABELS)}
    sites = list(s.scalars(select(Site).order_by(Site.name)))
    site = s.get(Site, site_id) if site_id else None
    # the model against this site's moderators: the same computation as `vigie eval --site --since`
    fb = feedback.evaluate_site(s, site, since) if site is not None else None
    return render_template("stats.html", data=data, sites=sites, site_id=site_id, days=days, fb=fb)
