"""Vigie's toxicity models.

    from workers.model import load
    scorer = load("vigie-fr-toxicity")          # the built-in default (also "default")
    scorer.predict(["Le lancement de la fusée Soyouz était magnifique"])
    # -> [{"toxicity": 0.02, "severe_toxicity": ..., "obscene": ..., "threat": ..., "insult": ..., "identity_attack": ...}]

``load`` also takes a folder holding a Vigie artifact (``config.json`` + ``adapter.safetensors``)
or any Hugging Face sequence-classification model id or local path. See docs/model.md.
"""
from __future__ import annotations

import os
from pathlib import Path

from core import vocabulary
from core.settings import Settings

DEFAULT_NAME = "vigie-fr-toxicity"
MODEL_VERSION = "2026.12.1"
DEFAULT_ARTIFACT = Path(__file__).parent / "default"
LABELS = list(vocabulary.LABELS)  # the model's output head, in order (a list, as in the artifact's config.json)


def default_model_name() -> str:
    """``VIGIE_MODEL`` (core.settings), else the built-in default."""
    return Settings().model or DEFAULT_NAME


def load(name_or_path: str | None = None, device: str = "cpu", quantize: str | None = None,
         threads: int | None = None, cache_dir: str | os.PathLike | None = None):
    """Load a scorer.

    ``name_or_path``: ``"vigie-fr-toxicity"``/``"default"`` (built-in; builds the base encoder in the
    cache on first use), a Vigie artifact folder, or a Hugging Face model id/path.
    ``quantize="int8"``: torch dynamic int8 quantization (CPU). ``threads``: torch intra-op threads.
    ``cache_dir``: where the base encoder is built (default: the settings' model cache, ``VIGIE_MODEL_CACHE``,
    else ``$VIGIE_DATA_DIR/models``, else ``./var/models``).
    """
    from .scorer import HFScorer, VigieScorer

    name = name_or_path or default_model_name()
    if name in (DEFAULT_NAME, "default"):
        return VigieScorer(DEFAULT_ARTIFACT, device, quantize, threads, cache_dir)
    p = Path(name)
    if p.is_dir() and (p / "adapter.safetensors").is_file() and (p / "config.json").is_file():
        return VigieScorer(p, device, quantize, threads, cache_dir)
    return HFScorer(name, device, quantize, threads)


__all__ = ["load", "DEFAULT_NAME", "LABELS", "MODEL_VERSION", "default_model_name"]
