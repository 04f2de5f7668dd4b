"""Sites' API keys and signing secrets: creation (shown once), hashing, lookup."""
from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import timedelta, timezone

from sqlalchemy import select
from sqlalchemy.orm import Session, joinedload

from core.policy import default_policy
from core.storage.models import ApiKey, Site, utcnow

KEY_PREFIX = "vg_"
LAST_USED_PRECISION = timedelta(minutes=1)


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()


def new_api_key(session: Session, site: Site, name: str = "") -> tuple[ApiKey, str]:
    """Create a key; the plain key is returned once and never stored."""
    plain = KEY_PREFIX + secrets.token_urlsafe(32)
    key = ApiKey(site=site, name=name, prefix=plain[:10], key_hash=hash_key(plain))
    session.add(key)
    session.flush()
    return key, plain


def new_signing_secret() -> str:
    return "whsec_" + secrets.token_urlsafe(32)


def site_for_key(session: Session, plain: str) -> Site | None:
    """The site owning an active key, or None. Constant-time comparison of the hash."""
    if not plain or len(plain) > 200:
        return None
    digest = hash_key(plain)
    key = session.scalar(select(ApiKey).where(ApiKey.key_hash == digest, ApiKey.revoked_at.is_(None))
                         .options(joinedload(ApiKey.site)))
    if key is None or not hmac.compare_digest(key.key_hash, digest):
        return None
    now = utcnow()
    last = key.last_used_at
    if last is not None and last.tzinfo is None:  # SQLite gives naive UTC
        last = last.replace(tzinfo=timezone.utc)
    if last is None or now - last > LAST_USED_PRECISION:  # not a write on every request
        key.last_used_at = now
    return key.site


def create_site(session: Session, slug: str, name: str | None = None) -> tuple[Site, str, str]:
    """Create a site with one API key and one signing secret. Returns (site, api_key, signing_secret)."""
    secret = new_signing_secret()
    site = Site(slug=slug, name=name or slug, policy=default_policy(), reject_reasons=list(DEFAULT_REJECT_REASONS),
                signing_secrets=[secret])
    session.add(site)
    session.flush()
    _, plain = new_api_key(session, site, name="default")
    return site, plain, secret


DEFAULT_REJECT_REASONS = ("Insulte", "Haine ou discrimination", "Menace", "Spam", "Hors sujet", "Vulgarité")
