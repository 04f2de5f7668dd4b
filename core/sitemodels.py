"""A site's own models (issue 13) as stored rows: candidates, the active one, promotion and rollback (both
audited), and the version string every result scored by a site model carries. No model code here: the worker
(``workers/site_heads.py``) loads the active heads, ``workers/site_training.py`` trains candidates."""
from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from core.storage.models import AuditEntry, Site, SiteModel, utcnow

CANDIDATE, ACTIVE, RETIRED, DECLINED = "candidate", "active", "retired", "declined"


def site_version(base_version: str, slug: str, number: int) -> str:
    """``2026.11.1+site-lemonde.3``: the shared model's version, the site, the site model's number."""
    return f"{base_version}+site-{slug}.{number}"


def next_number(session: Session, site_id: int) -> int:
    return int(session.scalar(select(func.coalesce(func.max(SiteModel.number), 0))
                              .where(SiteModel.site_id == site_id)) or 0) + 1


def active(session: Session, site_id: int) -> SiteModel | None:
    return session.scalar(select(SiteModel).where(SiteModel.site_id == site_id, SiteModel.status == ACTIVE))


def listing(session: Session, site_id: int, limit: int = 20) -> list[SiteModel]:
    return list(session.scalars(select(SiteModel).where(SiteModel.site_id == site_id)
                                .order_by(SiteModel.number.desc()).limit(limit)))


def active_ids(session: Session, site_ids) -> dict[int, int]:
    """site id -> id of its active model, for the given sites (one small query per scoring batch)."""
    ids = list(set(site_ids))
    if not ids:
        return {}
    return dict(session.execute(select(SiteModel.site_id, SiteModel.id)
                                .where(SiteModel.status == ACTIVE, SiteModel.site_id.in_(ids))).all())


def _audit(session: Session, site_id: int, action: str, actor_name: str, note: str) -> None:
    session.add(AuditEntry(site_id=site_id, comment_id=None, actor="admin", actor_name=actor_name, action=action,
                           note=note))


def promote(session: Session, model: SiteModel, actor_name: str) -> None:
    """Make ``model`` the site's active model (the active one, if any, retires). Audited; does not commit.
    Workers use it from their next batch."""
    if model.status == ACTIVE:
        return
    current = active(session, model.site_id)
    if current is not None:
        current.status = RETIRED
        session.flush()
    model.previous_id = current.id if current is not None else None
    model.status = ACTIVE
    model.promoted_at = utcnow()
    before = current.version if current is not None else "default"
    _audit(session, model.site_id, "model_promoted", actor_name,
           f"site model {model.version} promoted (was {before}); threshold {model.threshold:.2f}")


def decline(session: Session, model: SiteModel, actor_name: str) -> None:
    if model.status != CANDIDATE:
        return
    model.status = DECLINED
    _audit(session, model.site_id, "model_declined", actor_name, f"site model {model.version} declined")


def rollback(session: Session, site: Site, actor_name: str) -> SiteModel | None:
    """Back to the model that was active before the current one (or to the shared default model). Audited; does
    not commit. Returns the model now active (None: the default)."""
    current = active(session, site.id)
    if current is None:
        return None
    current.status = RETIRED
    session.flush()
    previous = session.get(SiteModel, current.previous_id) if current.previous_id else None
    if previous is not None and previous.site_id == site.id:
        previous.status = ACTIVE
        previous.promoted_at = utcnow()
    else:
        previous = None
    _audit(session, site.id, "model_rolled_back", actor_name,
           f"site model {current.version} rolled back to {previous.version if previous else 'default'}")
    return previous
