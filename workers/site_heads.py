"""The sites' own models as the worker uses them (issue 13): before each scoring batch, one small query finds the
active site model of each site in the batch (``core.sitemodels.active_ids``); a model not yet in this process's
cache is loaded from its safetensors bytes (a few KB). Promoting or rolling back a site model in the dashboard
therefore reaches every worker at its next batch, without a restart. A site model trained over another version
of the shared model than the one this worker runs is not applied (the worker logs it and scores with its own)."""
from __future__ import annotations

import logging
import threading

from sqlalchemy import select
from sqlalchemy.orm import Session

from core import sitemodels
from core.storage.models import SiteModel

log = logging.getLogger(__name__)
_cache: dict[int, object] = {}  # site model id -> SiteHead (or None: not applicable to this worker's model)
_lock = threading.Lock()


def heads_for(session: Session, scorer, site_ids) -> dict[int, object]:
    """site id -> the SiteHead to apply (sites without an applicable active model are absent)."""
    if not getattr(scorer, "supports_heads", False):
        return {}
    active = sitemodels.active_ids(session, site_ids)
    out = {}
    for site_id, model_id in active.items():
        head = _cache.get(model_id, False)
        if head is False:
            head = _load(session, scorer, model_id)
        if head is not None:
            out[site_id] = head
    return out


def model_of(scorer, head=None, default_name: str = "") -> tuple[str, str, float | None]:
    """(name, version, threshold) that a result scored with ``head`` (None: the shared model's own head) carries
    and is decided with: the queued drain and the synchronous path (Perspective, Coral) both take them from here,
    so a site model's comment is stored with the site model's version and decided at its threshold either way."""
    name = str(getattr(scorer, "name", "") or default_name)
    if head is not None:
        return name, head.version, head.threshold
    return name, str(getattr(scorer, "version", "")), getattr(scorer, "threshold", None)


def _load(session: Session, scorer, model_id: int):
    from workers.model.sitehead import SiteHead

    row = session.execute(select(SiteModel.weights, SiteModel.threshold, SiteModel.name, SiteModel.version,
                                 SiteModel.base_version).where(SiteModel.id == model_id)).one_or_none()
    head = None
    if row is not None:
        weights, threshold, name, version, base_version = row
        if base_version != str(scorer.version).removesuffix("+int8") or name != scorer.name:
            log.warning("site model %s was trained over %s %s; this worker runs %s %s: not applied", version,
                        name, base_version, scorer.name, scorer.version)
        else:
            head = SiteHead.from_bytes(weights, threshold, name, version, model_id)
            if str(scorer.version).endswith("+int8"):
                head.version = version + "+int8"
            log.info("site model %s loaded", version)
    with _lock:
        if len(_cache) > 10000:
            _cache.clear()
        _cache[model_id] = head
    return head
