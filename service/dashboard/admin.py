"""Admin screens: sites (create, settings, API keys) and users. Moderators get a 403 here (the blueprint guard
checks every ``admin_*`` endpoint). Every change is written to the audit log with actor ``admin``."""
from __future__ import annotations

import re

from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext
from flask_login import current_user
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from core import keys as site_keys
from service.accounts import ROLES, create_user
from service.context import db_session, vigie
from service.dashboard.blueprint import ID, bp
from service.dashboard.i18n import COMMON_TIMEZONES, LIST_NAMES, name_of
from service.dashboard.site_settings import callback_problem, describe_changes, lexicon_dir, lexicons, parse_form
from core.storage.models import ApiKey, AuditEntry, Site, User, utcnow
from core.policy import LABELS, merged

SLUG = re.compile(r"^[a-z0-9][a-z0-9-]{0,63}$")


def _audit(action: str, site_id: int | None = None, note: str | None = None) -> None:
    db_session().add(AuditEntry(site_id=site_id, comment_id=None, actor="admin", actor_name=current_user.username,
                                action=action, note=note))


def _site_or_404(site_id: int) -> Site:
    site = db_session().get(Site, site_id)
    if site is None:
        abort(404, description=gettext("No such site."))
    return site


def _snapshot(site: Site) -> dict:
    return {"name": site.name, "policy": merged(site.policy), "callback_url": site.callback_url,
            "reject_reasons": list(site.reject_reasons or []), "timezone": site.timezone,
            "report_threshold": site.report_threshold}


@bp.route("/admin/sites", methods=["GET", "POST"])
def admin_sites():
    s = db_session()
    created = None
    errors = []
    if request.method == "POST":
        slug = request.form.get("slug", "").strip().lower()
        name = request.form.get("name", "").strip()[:200] or slug
        if not SLUG.match(slug):
            errors.append(gettext("Slug: lower-case letters, digits and dashes, at most 64 characters"))
        elif s.scalar(select(Site.id).where(Site.slug == slug)) is not None:
            errors.append(gettext("Slug: a site “%(slug)s” already exists", slug=slug))
        else:
            site, key, secret = site_keys.create_site(s, slug, name)
            _audit("site_created", site.id, f"site {slug} created")
            s.commit()
            created = {"site": site, "key": key, "secret": secret}
    sites = list(s.scalars(select(Site).order_by(Site.name)))
    return render_template("admin/sites.html", sites=sites, created=created, errors=errors), (400 if errors else 200)


def _render_site(site: Site, status: int = 200, errors=(), new_key: str | None = None, form=None):
    s = db_session()
    keys = list(s.scalars(select(ApiKey).where(ApiKey.site_id == site.id).order_by(ApiKey.id)))
    lex = lexicons(lexicon_dir(vigie().settings.lexicons_dir))
    return render_template("admin/site.html", site=site, policy=merged(site.policy), labels=LABELS, keys=keys,
                           errors=list(errors), new_key=new_key, form=form, lexicons=lex,
                           timezones=COMMON_TIMEZONES), status


@bp.route(f"/admin/sites/<{ID}:site_id>", methods=["GET", "POST"])
def admin_site(site_id: int):
    site = _site_or_404(site_id)
    if request.method == "GET":
        return _render_site(site)
    parsed = parse_form(request.form, site.policy)
    if parsed.callback_url and not parsed.errors:
        problem = callback_problem(parsed.callback_url, vigie().settings)
        if problem:
            parsed.errors.append(f"Callback URL: {problem}")
    if parsed.errors:
        return _render_site(site, 400, parsed.errors, form=request.form)
    before = _snapshot(site)
    site.name, site.policy = parsed.name, parsed.policy
    site.reject_reasons, site.callback_url = parsed.reject_reasons, parsed.callback_url
    site.timezone = parsed.timezone
    site.report_threshold = parsed.report_threshold
    note = describe_changes(before, _snapshot(site))
    if note:
        _audit("settings", site.id, note)
    db_session().commit()
    flash(gettext("Settings saved; they apply to comments scored from now on.") if note else gettext("Nothing changed."))
    return redirect(url_for("dashboard.admin_site", site_id=site.id))


@bp.route(f"/admin/sites/<{ID}:site_id>/lexicon", methods=["POST"])
def admin_add_lexicon(site_id: int):
    site = _site_or_404(site_id)
    name, target = request.form.get("lexicon", ""), request.form.get("list", "suspect")
    terms = lexicons(lexicon_dir(vigie().settings.lexicons_dir)).get(name)
    if terms is None or target not in ("banned", "suspect", "allowed"):
        abort(400, description=gettext("Unknown lexicon or list."))
    policy = merged(site.policy)
    before = _snapshot(site)
    existing = list(policy["words"].get(target) or [])
    seen = set(existing)
    policy["words"][target] = existing + [t for t in terms if t not in seen]
    site.policy = policy
    note = describe_changes(before, _snapshot(site))
    if note:
        _audit("settings", site.id, f"lexicon {name} added to {target}: {note}")
    db_session().commit()
    flash(gettext("%(n)s terms of “%(lexicon)s” added to the %(list)s list.",
                  n=len(policy["words"][target]) - len(existing), lexicon=name, list=name_of(LIST_NAMES, target)))
    return redirect(url_for("dashboard.admin_site", site_id=site.id))


@bp.route(f"/admin/sites/<{ID}:site_id>/keys", methods=["POST"])
def admin_create_key(site_id: int):
    site = _site_or_404(site_id)
    key, plain = site_keys.new_api_key(db_session(), site, name=request.form.get("name", "").strip()[:200])
    _audit("key_created", site.id, f"API key {key.prefix}… ({key.name or 'unnamed'}) created")
    db_session().commit()
    return _render_site(site, new_key=plain)  # shown once, never stored in plain


@bp.route(f"/admin/sites/<{ID}:site_id>/keys/<{ID}:key_id>/revoke", methods=["POST"])
def admin_revoke_key(site_id: int, key_id: int):
    site = _site_or_404(site_id)
    key = db_session().get(ApiKey, key_id)
    if key is None or key.site_id != site.id:
        abort(404, description=gettext("No such key."))
    if key.revoked_at is None:
        key.revoked_at = utcnow()
        _audit("key_revoked", site.id, f"API key {key.prefix}… ({key.name or 'unnamed'}) revoked")
        db_session().commit()
        flash(gettext("Key %(prefix)s… revoked.", prefix=key.prefix))
    return redirect(url_for("dashboard.admin_site", site_id=site.id))


@bp.route("/admin/users", methods=["GET", "POST"])
def admin_users():
    s = db_session()
    errors = []
    if request.method == "POST":
        username = request.form.get("username", "").strip()
        role = request.form.get("role", "moderator")
        password = request.form.get("password", "")
        if not username or len(username) > 100:
            errors.append(gettext("Username: required, at most 100 characters"))
        elif role not in ROLES:
            errors.append(gettext("Role: unknown role"))
        elif len(password) < 8:
            errors.append(gettext("Password: at least 8 characters"))
        elif s.scalar(select(User.id).where(User.username == username)) is not None:
            errors.append(gettext("Username: “%(name)s” is taken", name=username))
        else:
            try:
                create_user(s, username, password, role)
                _audit("user_created", None, f"user {username} ({role}) created")
                s.commit()
                flash(gettext("User %(name)s created.", name=username))
                return redirect(url_for("dashboard.admin_users"))
            except (ValueError, IntegrityError) as exc:
                s.rollback()
                errors.append(str(exc).capitalize())
    users = list(s.scalars(select(User).order_by(User.username)))
    return render_template("admin/users.html", users=users, roles=ROLES, errors=errors), (400 if errors else 200)


@bp.route(f"/admin/users/<{ID}:user_id>", methods=["POST"])
def admin_update_user(user_id: int):
    s = db_session()
    user = s.get(User, user_id)
    if user is None:
        abort(404, description=gettext("No such user."))
    role = request.form.get("role", user.role)
    active = request.form.get("active", "1") == "1"
    if role not in ROLES:
        abort(400, description=gettext("Unknown role."))
    if user.id == current_user.id and (role != "admin" or not active):
        abort(400, description=gettext("You cannot demote or deactivate your own account."))
    if (user.role, user.active) != (role, active):
        _audit("user_updated", None, f"user {user.username}: role {user.role} → {role}, active {user.active} → {active}")
        user.role, user.active = role, active
        s.commit()
        flash(gettext("User %(name)s updated.", name=user.username))
    return redirect(url_for("dashboard.admin_users"))
