"""The process-wide model: loaded once per worker process, shared by every job it runs."""
from __future__ import annotations

import logging
import threading

from core.sealing import WorkerKey
from core.settings import Settings
from workers.model import load

log = logging.getLogger(__name__)
_lock = threading.Lock()
_scorer = None


def load_scorer(settings: Settings):
    quantize = None if settings.quantize == "none" else settings.quantize
    threads = settings.torch_threads or None
    log.info("loading model %s on %s (quantize=%s)", settings.model, settings.device, quantize)
    return load(settings.model, device=settings.device, quantize=quantize, threads=threads,
                cache_dir=settings.resolved_model_cache)


def set_scorer(scorer) -> None:
    global _scorer
    _scorer = scorer


def get_scorer(settings: Settings | None = None):
    """The loaded scorer; loads it on first use."""
    global _scorer
    if _scorer is None:
        with _lock:
            if _scorer is None:
                _scorer = load_scorer(settings or Settings())
    return _scorer


_key: WorkerKey | None = None


def worker_key() -> WorkerKey:
    """This process's key pair for sealed sync requests (core/sealing.py): made once, in memory only."""
    global _key
    if _key is None:
        with _lock:
            if _key is None:
                _key = WorkerKey()
    return _key
