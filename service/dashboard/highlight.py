"""Comment text with the passages behind a decision marked, built safely: the text is cut at span boundaries and
every segment is escaped with markupsafe before it is wrapped, so no comment can inject markup.

Two kinds of marks:

* ``word``: word-list hits, from the reasons of kind ``"word"`` of the automatic decision's audit entry
  (``core/policy.py`` records the character span of each hit in the original text);
* ``model``: the spans ``Scorer.explain`` stored in ``ModelResult.spans`` (the words whose removal lowers the
  toxicity score most, with that drop as ``weight``); spans weighing less than half the strongest one are
  ``model-weak`` (drawn lighter).
"""
from __future__ import annotations

from typing import Any, Iterable

from markupsafe import Markup, escape

MAX_DISPLAY_CHARS = 20_000


def _intervals(text_len: int, word_reasons: Iterable[dict[str, Any]], spans: Iterable[dict[str, Any]]):
    out = []
    for reason in word_reasons or ():
        if isinstance(reason, dict) and reason.get("kind") == "word":
            out.append((reason.get("start"), reason.get("end"), "word",
                        f"{reason.get('list', 'word')} list: {reason.get('term', '')}"))
    spans = [s for s in spans or () if isinstance(s, dict)]
    weights = [s["weight"] for s in spans if isinstance(s.get("weight"), (int, float))]
    strongest = max(weights, default=0.0)
    for span in spans:
        weight = span.get("weight")
        if isinstance(weight, (int, float)):
            kind = "model" if strongest <= 0 or weight >= strongest / 2 else "model-weak"
            out.append((span.get("start"), span.get("end"), kind, f"model: +{weight:.3g}"))
        else:
            out.append((span.get("start"), span.get("end"), "model", "model"))
    clean = []
    for start, end, kind, title in out:
        if isinstance(start, int) and isinstance(end, int):
            start, end = max(0, start), min(text_len, end)
            if start < end:
                clean.append((start, end, kind, title))
    return clean


def highlight(text: str, word_reasons: Iterable[dict[str, Any]] = (),
              spans: Iterable[dict[str, Any]] = ()) -> Markup:
    """Escaped HTML of ``text`` with ``<mark class="hl hl-word|hl-model">`` around the marked passages."""
    text = text or ""
    truncated = len(text) > MAX_DISPLAY_CHARS
    if truncated:
        text = text[:MAX_DISPLAY_CHARS]
    intervals = _intervals(len(text), word_reasons, spans)
    cuts = sorted({0, len(text), *(i[0] for i in intervals), *(i[1] for i in intervals)})
    parts: list[str] = []
    for a, b in zip(cuts, cuts[1:]):
        segment = escape(text[a:b])
        covering = [i for i in intervals if i[0] <= a and b <= i[1]]
        if not covering:
            parts.append(segment)
            continue
        kinds = sorted({i[2] for i in covering})
        classes = " ".join(f"hl-{k}" for k in kinds)
        title = escape("; ".join(dict.fromkeys(i[3] for i in covering)))
        parts.append(Markup('<mark class="hl {}" title="{}">{}</mark>').format(classes, title, segment))
    if truncated:
        parts.append(Markup('<span class="truncated">… (truncated)</span>'))
    return Markup("").join(parts)


def safe_url(url: str | None) -> str | None:
    """The URL if it is a plain http(s) link, else None (``javascript:``, ``data:`` and the like are not linked)."""
    if not url:
        return None
    value = url.strip()
    lowered = value.lower()
    if (lowered.startswith("https://") or lowered.startswith("http://")) and not any(c in value for c in "\r\n\t "):
        return value
    return None
