"""HMAC signatures for webhooks in and out and for Coral.

Vigie scheme (webhooks in and out): header ``X-Vigie-Signature: t=<unix time>,v1=<hex>`` where ``<hex>`` is the
HMAC-SHA256, keyed with one of the site's signing secrets, of ``"<t>.<raw body>"``. Several ``v1=`` values may be
sent (one per secret while secrets roll); any match passes. A timestamp older (or further in the future) than
``TOLERANCE_S`` is refused, and a signature seen before within that window is refused as a replay.

Coral scheme: header ``X-Coral-Signature: sha256=<hex>[,sha256=<hex>...]``, the HMAC-SHA256 of the raw body keyed
with a signing secret; any match passes.
"""
from __future__ import annotations

import hashlib
import hmac
import time
from typing import Iterable

from core.queues import WEBHOOK_SEEN_PREFIX as SEEN_PREFIX

TOLERANCE_S = 300
VIGIE_HEADER = "X-Vigie-Signature"
CORAL_HEADER = "X-Coral-Signature"
MAX_HEADER_CHARS = 4096


class SignatureError(Exception):
    """The request is not signed by the site (bad, missing, stale or replayed signature)."""


def hmac_hex(secret: str, message: bytes) -> str:
    return hmac.new(secret.encode("utf-8"), message, hashlib.sha256).hexdigest()


def sign(secret: str, body: bytes, timestamp: int | None = None) -> str:
    """The ``X-Vigie-Signature`` header value for ``body``."""
    t = int(time.time() if timestamp is None else timestamp)
    return f"t={t},v1={hmac_hex(secret, f'{t}.'.encode() + body)}"


def sign_coral(secrets: Iterable[str], body: bytes) -> str:
    """The ``X-Coral-Signature`` header value Coral would send (one ``sha256=`` value per secret)."""
    return ",".join(f"sha256={hmac_hex(s, body)}" for s in secrets)


def _matches(expected: str, candidates: list[str]) -> bool:
    # compare every candidate (no early exit on the first match keeps timing independent of position)
    found = False
    for candidate in candidates:
        found |= hmac.compare_digest(expected, candidate.lower())
    return found


def _matching(expected: list[str], candidates: list[str]) -> str | None:
    for value in expected:
        if _matches(value, candidates):
            return value
    return None


def parse_vigie(header: str | None) -> tuple[int, list[str]]:
    if not header:
        raise SignatureError(f"missing {VIGIE_HEADER} header")
    if len(header) > MAX_HEADER_CHARS:
        raise SignatureError(f"{VIGIE_HEADER} header too long")
    timestamp, signatures = None, []
    for part in header.split(","):
        key, _, value = part.strip().partition("=")
        if key == "t" and value.isdigit():
            timestamp = int(value)
        elif key == "v1" and value:
            signatures.append(value.strip())
    if timestamp is None or not signatures:
        raise SignatureError(f"{VIGIE_HEADER} must look like t=<unix time>,v1=<hex>")
    return timestamp, signatures


def verify_vigie(header: str | None, body: bytes, secrets: Iterable[str], now: float | None = None,
                 tolerance_s: int = TOLERANCE_S) -> tuple[int, str]:
    """Check a Vigie signature; returns (timestamp, the matching signature). Raises SignatureError."""
    timestamp, signatures = parse_vigie(header)
    now = time.time() if now is None else now
    if abs(now - timestamp) > tolerance_s:
        raise SignatureError(f"signature timestamp outside the {tolerance_s} s window")
    message = f"{timestamp}.".encode() + body
    matched = _matching([hmac_hex(secret, message) for secret in secrets if secret], signatures)
    if matched is None:
        raise SignatureError("signature does not match")
    return timestamp, matched


def verify_coral(header: str | None, body: bytes, secrets: Iterable[str]) -> None:
    """Check a Coral signature. Raises SignatureError."""
    if not header:
        raise SignatureError(f"missing {CORAL_HEADER} header")
    if len(header) > MAX_HEADER_CHARS:
        raise SignatureError(f"{CORAL_HEADER} header too long")
    candidates = [v.strip()[len("sha256="):] for v in header.split(",") if v.strip().startswith("sha256=")]
    if not candidates:
        raise SignatureError(f"{CORAL_HEADER} must hold sha256=<hex> values")
    if _matching([hmac_hex(secret, body) for secret in secrets if secret], candidates) is None:
        raise SignatureError("signature does not match")


def remember(redis, site_id: int, timestamp: int, signature: str, tolerance_s: int = TOLERANCE_S,
             now: float | None = None) -> bool:
    """Record a verified signature; False if it was seen before (a replayed request). It is kept until its
    timestamp leaves the accepted window (at most 5 minutes for a current timestamp); after that the timestamp
    check refuses the request anyway."""
    now = time.time() if now is None else now
    ttl = max(1, int(timestamp + tolerance_s - now) + 1)
    key = f"{SEEN_PREFIX}{site_id}:{timestamp}:{signature.lower()}"
    return bool(redis.set(key, "1", nx=True, ex=ttl))
