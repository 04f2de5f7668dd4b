"""Sealed synchronous requests: texts a caller asked Vigie not to store (Perspective ``doNotStore: true``) cross
Redis encrypted, so neither Redis's memory nor its append-only file or snapshots ever hold them in plaintext.

Each model worker process makes an X25519 key pair at start and keeps the private half in memory only (never
written anywhere, gone with the process); it publishes the public half in ``vigie:sync:keys`` (a hash: key id ->
public key and time) at every heartbeat. The web process seals a request with a fresh AES-256-GCM data key, and
wraps that data key for each worker key published within ``queues.WORKER_LIVE_S`` (ephemeral X25519 + HKDF-SHA256
+ AES-GCM). Whichever of those workers takes the request opens it; nothing on disk (Redis's files, the database)
can. A worker started after the request was sealed cannot open it and answers an error (the caller gets 503)."""
from __future__ import annotations

import base64
import hashlib
import json
import os
import time
from typing import Any

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from core.queues import SYNC_KEYS_KEY, WORKER_LIVE_S

_RAW = serialization.Encoding.Raw, serialization.PublicFormat.Raw


class Unsealable(Exception):
    """No worker key to seal for, or a sealed request this process cannot open."""


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _unb64(text: str) -> bytes:
    return base64.b64decode(text)


def _kek(shared: bytes, key_id: str) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None,
                info=b"vigie-sync-seal:" + key_id.encode()).derive(shared)


class WorkerKey:
    """A worker process's key pair (private half in memory only)."""

    def __init__(self) -> None:
        self._private = X25519PrivateKey.generate()
        self.public = self._private.public_key().public_bytes(*_RAW)
        self.key_id = hashlib.sha256(self.public).hexdigest()[:16]

    def publish(self, redis) -> None:
        now = time.time()
        pipe = redis.pipeline(transaction=False)
        pipe.hset(SYNC_KEYS_KEY, self.key_id, json.dumps({"public": _b64(self.public), "at": now}))
        pipe.execute()

    def withdraw(self, redis) -> None:
        redis.hdel(SYNC_KEYS_KEY, self.key_id)

    def open(self, sealed: dict[str, Any]) -> list[str]:
        wrapped = (sealed.get("keys") or {}).get(self.key_id)
        if wrapped is None:
            raise Unsealable("sealed for other workers")
        shared = self._private.exchange(X25519PublicKey.from_public_bytes(_unb64(sealed["epk"])))
        blob = _unb64(wrapped)
        data_key = AESGCM(_kek(shared, self.key_id)).decrypt(blob[:12], blob[12:], None)
        body = _unb64(sealed["ct"])
        return json.loads(AESGCM(data_key).decrypt(body[:12], body[12:], None))


def live_keys(redis) -> dict[str, bytes]:
    """Public keys of model workers heard from within ``WORKER_LIVE_S``; older ones are dropped from the hash."""
    now = time.time()
    out, stale = {}, []
    for key_id, raw in (redis.hgetall(SYNC_KEYS_KEY) or {}).items():
        key_id = key_id.decode() if isinstance(key_id, bytes) else key_id
        try:
            entry = json.loads(raw)
            if now - float(entry["at"]) <= WORKER_LIVE_S:
                out[key_id] = _unb64(entry["public"])
                continue
        except (ValueError, KeyError, TypeError):
            pass
        stale.append(key_id)
    if stale:
        redis.hdel(SYNC_KEYS_KEY, *stale)
    return out


def seal(texts: list[str], keys: dict[str, bytes]) -> dict[str, Any]:
    """The texts encrypted for each of ``keys`` (key id -> X25519 public key). Raises Unsealable without keys."""
    if not keys:
        raise Unsealable("no live worker to seal for")
    data_key = AESGCM.generate_key(bit_length=256)
    nonce = os.urandom(12)
    body = nonce + AESGCM(data_key).encrypt(nonce, json.dumps(texts).encode(), None)
    ephemeral = X25519PrivateKey.generate()
    wrapped = {}
    for key_id, public in keys.items():
        shared = ephemeral.exchange(X25519PublicKey.from_public_bytes(public))
        n = os.urandom(12)
        wrapped[key_id] = _b64(n + AESGCM(_kek(shared, key_id)).encrypt(n, data_key, None))
    return {"epk": _b64(ephemeral.public_key().public_bytes(*_RAW)), "keys": wrapped, "ct": _b64(body)}
