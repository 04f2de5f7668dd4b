"""The moderator dashboard, mounted at ``/``: login, moderation queues, audit log, statistics and (for admins)
sites, users, API keys and site settings. Every page needs a login; every form and action is CSRF-protected;
every asset is served from ``static/`` (no CDN)."""
from __future__ import annotations

from flask import Flask

# The view modules register their routes on the blueprint when imported.
from service.dashboard import admin, articles, audit, auth, authors, erase, queue, site_model, stats  # noqa: F401
from service.dashboard.blueprint import bp
from service.dashboard.i18n import init_i18n
from service.dashboard.queries import init_search
from service.dashboard.templating import init_templating


def init_app(app: Flask) -> None:
    init_i18n(app, bp)
    if not bp._got_registered_once:  # the blueprint's template helpers apply to every app it is registered on
        init_templating(bp)
    init_search(app)
    app.register_blueprint(bp)
