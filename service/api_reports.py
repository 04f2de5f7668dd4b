"""Readers' reports through the REST API (same API key, shared rate limit and JSON errors as ``service.api``)::

    POST /api/v1/comments/<id>/reports   {"reason", "reporter_id", "text"?} -> 201 (new) or 200 (this reader's
                                          report was already recorded: nothing changes)

A comment reported by the site's ``report_threshold`` distinct readers is flagged if the model had approved it
(core.reports)."""
from __future__ import annotations

from typing import Any

from flask import Blueprint, Flask, Response, jsonify

from core import reports
from core.decisions import report_comment
from core.storage.models import Comment, CommentReport
from service.api import _own_comment, iso, json_body
from service.context import db_session, vigie

bp = Blueprint("api_reports", __name__, url_prefix="/api/v1")


def report_json(report: CommentReport, comment: Comment, created: bool, flagged: bool) -> dict[str, Any]:
    return {
        "created": created,
        "report": {"id": report.id, "comment_id": report.comment_id, "reporter_id": report.reporter_id,
                   "reason": report.reason, "text": report.text, "created_at": iso(report.created_at)},
        "comment": {"id": comment.id, "external_id": comment.external_id, "status": comment.status,
                    "report_count": comment.report_count, "flagged_by_reports": flagged},
    }


@bp.post("/comments/<int:comment_id>/reports")
def post_report(comment_id: int) -> tuple[Response, int]:
    """Record a reader's report of the comment; idempotent per (comment, reporter_id)."""
    body = json_body(reports.ReportIn)
    session = db_session()
    comment = _own_comment(session, comment_id)
    outcome = report_comment(session, comment, body, source="api", services=vigie())
    return jsonify(report_json(outcome.report, comment, outcome.created, outcome.flagged)), (
        201 if outcome.created else 200)


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)
