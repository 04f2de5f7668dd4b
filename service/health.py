"""Health endpoints: ``/healthz`` (the process answers) and ``/readyz`` (the database, Redis and at least one live
scoring worker listening now, by Vigie's own heartbeats, are reachable; 503 with the failing checks otherwise). For load balancers and docker healthchecks."""
from __future__ import annotations

import logging

from flask import Blueprint, Flask, jsonify
from sqlalchemy import text

from core.queues import live_workers, pending_count
from service.context import vigie

log = logging.getLogger(__name__)
bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz():
    return jsonify({"status": "ok"})


# Checks failing at the last poll (per process): a failure is logged when it starts and when it ends, not at every
# poll of a load balancer. No worker yet is the normal state while the model loads: logged at DEBUG only.
_failing: set[str] = set()


def _check(name: str, checks: dict, func) -> None:
    try:
        checks[name] = {"ok": True, **(func() or {})}
    except Exception as exc:  # each failure is reported, never raised
        checks[name] = {"ok": False, "error": f"{type(exc).__name__}: {str(exc)[:200]}"}
        if name not in _failing and name != "workers":
            log.warning("readiness check %s failed: %s", name, exc)
        else:
            log.debug("readiness check %s failed: %s", name, exc)
        _failing.add(name)
        return
    if name in _failing:
        _failing.discard(name)
        log.log(logging.DEBUG if name == "workers" else logging.INFO, "readiness check %s passes again", name)


@bp.get("/readyz")
def readyz():
    services = vigie()
    checks: dict[str, dict] = {}

    def database():
        with services.db.engine.connect() as conn:
            conn.execute(text("SELECT 1"))

    def redis():
        services.redis.ping()

    def workers():
        live = live_workers(services.redis)
        if not live:
            raise RuntimeError("no live worker on the score queue (start one with `vigie worker`)")
        return {"count": len(live), "pending": pending_count(services.redis)}

    _check("database", checks, database)
    _check("redis", checks, redis)
    if checks["redis"]["ok"]:
        _check("workers", checks, workers)
    else:
        checks["workers"] = {"ok": False, "error": "Redis unreachable"}
    ready = all(c["ok"] for c in checks.values())
    return jsonify({"status": "ready" if ready else "unavailable", "checks": checks}), 200 if ready else 503


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)
