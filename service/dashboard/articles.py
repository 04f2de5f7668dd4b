"""Moderation by article: the list of articles (counts per status, flag rate, most recently active first), each
article's queue (the moderation queue filtered by ``site`` and ``thread``) and its conversation view (parents and
replies in order, core.articles.conversation). Readers' report reasons are named here too."""
from __future__ import annotations

from flask import abort, redirect, render_template, request, url_for
from flask_babel import gettext, lazy_gettext
from sqlalchemy import select

from core import articles as core_articles
from core import reports as core_reports
from core.storage.models import Article, Comment, Site
from service.context import db_session
from service.dashboard.blueprint import ID, bp, is_row_id
from service.dashboard.queries import automatic_decisions

PAGE_SIZE = 50
MAX_PAGE = 1000
SORT_NAMES = {"activity": lazy_gettext("Latest activity"), "flagged": lazy_gettext("Most to review"),
              "comments": lazy_gettext("Most comments")}
REPORT_REASON_NAMES = {"offensive": lazy_gettext("offensive"), "abusive": lazy_gettext("abusive"),
                       "spam": lazy_gettext("spam"), "off_topic": lazy_gettext("off topic"),
                       "misinformation": lazy_gettext("misinformation"), "harassment": lazy_gettext("harassment"),
                       "other": lazy_gettext("other")}


def report_reason(reason: str) -> str:
    """A report reason in the page's language (unknown reasons as the comment system sent them)."""
    value = REPORT_REASON_NAMES.get(reason)
    return str(value) if value is not None else reason.replace("_", " ")


@bp.app_template_filter("report_reason")
def _report_reason_filter(reason: str) -> str:
    return report_reason(reason)


@bp.app_template_global("article_for")
def article_for(site_id: int | None, thread_id: str | None) -> Article | None:
    """The article of an article queue's filters (the queue's heading)."""
    if not site_id or not thread_id:
        return None
    return db_session().scalar(select(Article).where(Article.site_id == site_id, Article.thread_id == thread_id))


def _int_arg(name: str, default: int, high: int) -> int:
    raw = request.args.get(name, "")
    if not raw:
        return default
    if not is_row_id(raw) or int(raw) > high:
        abort(400, description=gettext("%(field)s: expected a number", field=name))
    return int(raw)


@bp.route("/articles")
def article_list():
    sort = request.args.get("sort", "activity") or "activity"
    if sort not in core_articles.ARTICLE_SORTS:
        abort(400, description=gettext("sort: must be one of %(values)s",
                                       values=", ".join(core_articles.ARTICLE_SORTS)))
    site_id = _int_arg("site", 0, 2**31 - 1) or None
    page = _int_arg("page", 1, MAX_PAGE) or 1
    s = db_session()
    rows, more = core_articles.article_list(s, site_id, sort, PAGE_SIZE, (page - 1) * PAGE_SIZE)
    sites = list(s.scalars(select(Site).order_by(Site.name)))
    return render_template("articles.html", rows=rows, more=more, page=page, sort=sort, site_id=site_id,
                           sites=sites, sort_names=SORT_NAMES)


def _article_or_404(article_id: int) -> Article:
    article = db_session().get(Article, article_id)
    if article is None:
        abort(404, description=gettext("No such article."))
    return article


@bp.route(f"/articles/<{ID}:article_id>")
def article_queue(article_id: int):
    """An article's queue: the moderation queue with this article's filters."""
    article = _article_or_404(article_id)
    tab = request.args.get("tab", "flagged")
    return redirect(url_for("dashboard.queue", tab=tab, sort="time" if tab == "all" else None,
                            site=article.site_id, thread=article.thread_id))


@bp.route(f"/articles/<{ID}:article_id>/conversation")
def article_conversation(article_id: int):
    article = _article_or_404(article_id)
    s = db_session()
    conversation = core_articles.conversation(s, article.site_id, article.thread_id)
    ids = [n.comment.id for n in conversation.nodes]
    reported = [n.comment.id for n in conversation.nodes if n.comment.report_count]
    return render_template("conversation.html", article=article, conversation=conversation,
                           decisions=automatic_decisions(s, ids), reports=core_reports.reason_counts(s, reported),
                           focus=request.args.get("focus", ""))


@bp.route(f"/comments/<{ID}:comment_id>/conversation")
def comment_conversation(comment_id: int):
    """A comment's conversation (from its card): its article's conversation view, at this comment."""
    s = db_session()
    comment = s.get(Comment, comment_id)
    if comment is None:
        abort(404, description=gettext("No such comment."))
    if not comment.thread_id:
        abort(404, description=gettext("This comment was sent without a thread id: it has no conversation."))
    article = s.scalar(select(Article).where(Article.site_id == comment.site_id,
                                             Article.thread_id == comment.thread_id))
    if article is None:  # a thread received before articles were kept, and missed by the migration
        article = core_articles.touch(s, comment.site_id, comment.thread_id, None, comment.thread_url,
                                      comment.received_at)
        s.commit()
    return redirect(url_for("dashboard.article_conversation", article_id=article.id, focus=comment.id)
                    + f"#c-{comment.id}")
