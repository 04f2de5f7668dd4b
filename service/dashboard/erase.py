"""Erasure from the dashboard (admins only: the blueprint guard refuses ``admin_*`` endpoints to moderators): a
comment's page and the author panel offer "Erase", which goes through ``core.erasure`` like the API's DELETE
routes (text, original text, author and spans erased, a tombstone kept, audited with the admin's name)."""
from __future__ import annotations

from flask import abort, flash, redirect, request, url_for
from flask_babel import gettext, ngettext
from flask_login import current_user

from core import erasure
from core.storage.models import Comment
from core.vocabulary import Actor
from service.context import db_session, vigie
from service.dashboard.blueprint import ID, bp


def _comment_or_404(comment_id: int) -> Comment:
    comment = db_session().get(Comment, comment_id)
    if comment is None:
        abort(404, description=gettext("No such comment."))
    return comment


@bp.route(f"/comments/<{ID}:comment_id>/erase", methods=["POST"])
def admin_erase_comment(comment_id: int):
    comment = _comment_or_404(comment_id)
    erasure.erase_comment(vigie(), db_session(), comment.site_id, comment.id, Actor.admin.value,
                          current_user.username)
    flash(gettext("The text and author of comment #%(id)s were erased.", id=comment_id))
    return redirect(url_for("dashboard.comment_page", comment_id=comment_id))


@bp.route(f"/comments/<{ID}:comment_id>/erase-author", methods=["POST"])
def admin_erase_author(comment_id: int):
    """Erase every comment of this comment's author on its site."""
    comment = _comment_or_404(comment_id)
    author_id = comment.author_id
    if not author_id or request.form.get("author_id") != author_id:  # the page shown is the author erased
        abort(409, description=gettext("This comment's author changed or has no id; reload the page."))
    report = erasure.erase_author(vigie(), db_session(), comment.site_id, author_id, Actor.admin.value,
                                  current_user.username)
    flash(ngettext("%(num)d comment of this author was erased.", "%(num)d comments of this author were erased.",
                   report.comments))
    return redirect(url_for("dashboard.comment_page", comment_id=comment_id))
