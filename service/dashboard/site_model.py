"""Admin page of a site's own model (issue 13): train (a background rq job, progress shown), compare a candidate
with the current model on the held-back decisions, promote, decline or roll back (audited), and apply the
suggested thresholds in one click (audited like any settings change). Workers pick up a promotion at their next
batch."""
from __future__ import annotations

from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext
from flask_login import current_user
from redis.exceptions import RedisError

from core import feedback, queues, sitemodels
from core.storage.models import AuditEntry, SiteModel
from service.context import db_session, vigie
from service.dashboard.admin import _site_or_404, _snapshot
from service.dashboard.blueprint import ID, bp
from service.dashboard.i18n import LABEL_NAMES, decimal, name_of
from service.dashboard.site_settings import describe_changes

TRAIN_TIMEOUT_S = 3600


def _status(site_id: int) -> dict | None:
    try:
        return queues.training_status(vigie().redis, site_id)
    except RedisError:
        return None


@bp.route(f"/admin/sites/<{ID}:site_id>/model")
def admin_site_model(site_id: int):
    site = _site_or_404(site_id)
    s = db_session()
    models = sitemodels.listing(s, site.id)
    active = next((m for m in models if m.status == sitemodels.ACTIVE), None) or sitemodels.active(s, site.id)
    figures = feedback.evaluate_site(s, site)
    status = _status(site.id)
    running = bool(status and status.get("state") in ("queued", "running"))
    return render_template("admin/site_model.html", site=site, models=models, active=active, figures=figures,
                           status=status, running=running)


@bp.route(f"/admin/sites/<{ID}:site_id>/model/train", methods=["POST"])
def admin_site_model_train(site_id: int):
    site = _site_or_404(site_id)
    status = _status(site.id)
    if status and status.get("state") in ("queued", "running"):
        flash(gettext("A training of this site's model is already under way."))
        return redirect(url_for("dashboard.admin_site_model", site_id=site.id))
    try:
        queues.enqueue_training(vigie().redis, site.id, current_user.username, TRAIN_TIMEOUT_S)
    except RedisError:
        abort(503, description=gettext("The job queue is unavailable right now; try again."))
    flash(gettext("Training queued: a worker computes it in the background; this page shows its progress."))
    return redirect(url_for("dashboard.admin_site_model", site_id=site.id))


def _model_or_404(site_id: int, model_id: int) -> SiteModel:
    model = db_session().get(SiteModel, model_id)
    if model is None or model.site_id != site_id:
        abort(404, description=gettext("No such model."))
    return model


@bp.route(f"/admin/sites/<{ID}:site_id>/model/<{ID}:model_id>/promote", methods=["POST"])
def admin_site_model_promote(site_id: int, model_id: int):
    site = _site_or_404(site_id)
    model = _model_or_404(site.id, model_id)
    if model.status not in (sitemodels.CANDIDATE, sitemodels.RETIRED, sitemodels.DECLINED):
        abort(400, description=gettext("This model is already in use."))
    sitemodels.promote(db_session(), model, current_user.username)
    db_session().commit()
    flash(gettext("Model %(version)s is now used for this site's comments (from the workers' next batch).",
                  version=model.version))
    return redirect(url_for("dashboard.admin_site_model", site_id=site.id))


@bp.route(f"/admin/sites/<{ID}:site_id>/model/<{ID}:model_id>/decline", methods=["POST"])
def admin_site_model_decline(site_id: int, model_id: int):
    site = _site_or_404(site_id)
    model = _model_or_404(site.id, model_id)
    sitemodels.decline(db_session(), model, current_user.username)
    db_session().commit()
    flash(gettext("Candidate %(version)s declined.", version=model.version))
    return redirect(url_for("dashboard.admin_site_model", site_id=site.id))


@bp.route(f"/admin/sites/<{ID}:site_id>/model/rollback", methods=["POST"])
def admin_site_model_rollback(site_id: int):
    site = _site_or_404(site_id)
    if sitemodels.active(db_session(), site.id) is None:
        abort(400, description=gettext("This site already uses the default model."))
    now = sitemodels.rollback(db_session(), site, current_user.username)
    db_session().commit()
    flash(gettext("Rolled back: this site now uses %(version)s.",
                  version=now.version if now is not None else gettext("the default model")))
    return redirect(url_for("dashboard.admin_site_model", site_id=site.id))


@bp.route(f"/admin/sites/<{ID}:site_id>/thresholds/apply", methods=["POST"])
def admin_site_apply_threshold(site_id: int):
    """One suggested threshold, applied: the same audit entry as a settings change made in the form."""
    site = _site_or_404(site_id)
    label, kind = request.form.get("label", ""), request.form.get("kind", "")
    try:
        value = float(request.form.get("value", ""))
        policy = feedback.apply_suggestion(site.policy, label, kind, value)
    except ValueError:
        abort(400, description=gettext("Unknown label, kind or threshold value."))
    before = _snapshot(site)
    site.policy = policy
    note = describe_changes(before, _snapshot(site))
    if note:
        db_session().add(AuditEntry(site_id=site.id, comment_id=None, actor="admin",
                                    actor_name=current_user.username, action="settings",
                                    note=f"suggested threshold applied: {note}"))
    db_session().commit()
    what = gettext("flag threshold") if kind == "flag" else gettext("reject threshold")
    flash(gettext("%(what)s of %(label)s set to %(value)s.", what=what.capitalize(),
                  label=name_of(LABEL_NAMES, label), value=decimal(value)))
    return redirect(url_for("dashboard.admin_site_model", site_id=site.id))
