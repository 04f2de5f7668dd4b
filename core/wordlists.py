"""Word-list matching that survives case, accents and simple obfuscation, and respects word boundaries.

``fold`` maps each character to a lower-case, accent-free form (``É`` -> ``e``, ``œ`` -> ``oe``) and undoes common
leetspeak (``3`` -> ``e``, ``@`` -> ``a``, and ``!`` or ``|`` -> ``i`` inside a word), keeping for every folded character the index of the original one, so hits
are reported as spans of the original text. Words are runs of letters; a run of single letters separated by spaces
or punctuation (``m e r d e``, ``m.e.r.d.e``) also counts as one word. "con" therefore never matches "contexte".
"""
from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache
from typing import Iterable

LEET = {"0": "o", "1": "i", "3": "e", "4": "a", "5": "s", "7": "t", "@": "a", "$": "s", "€": "e"}
LIGATURES = {"œ": "oe", "æ": "ae", "ß": "ss", "ﬁ": "fi", "ﬂ": "fl"}
# Read as "i" only inside a word (followed by a letter or digit): "!mb3c!le" is "imbecile", but "con!" stays "con".
INNER_LEET = {"!": "i", "|": "i"}
_LETTERS = re.compile(r"[a-z]+")


@lru_cache(maxsize=4096)
def _fold_char(c: str) -> str:
    low = c.lower()
    if low in LIGATURES:
        return LIGATURES[low]
    if low in LEET:
        return LEET[low]
    decomposed = unicodedata.normalize("NFKD", low)
    return "".join(x for x in decomposed if not unicodedata.combining(x))


def fold(text: str) -> tuple[str, list[int]]:
    """Folded text and, for each folded character, the index of the original character."""
    out: list[str] = []
    index: list[int] = []
    last = len(text) - 1
    for i, c in enumerate(text):
        if c in INNER_LEET and i < last and text[i + 1].isalnum():
            f = INNER_LEET[c]
        else:
            f = _fold_char(c)
        out.append(f)
        index.extend([i] * len(f))
    return "".join(out), index


@dataclass(frozen=True)
class Word:
    text: str
    start: int  # in the original text
    end: int


def words(text: str) -> list[Word]:
    folded, index = fold(text)
    runs = [(m.group(), m.start(), m.end()) for m in _LETTERS.finditer(folded)]
    result: list[Word] = []
    i = 0
    while i < len(runs):
        # Join a run of >= 3 single letters separated by at most 2 non-letters: "m e r d e", "c.o.n".
        j = i
        while (j + 1 < len(runs) and len(runs[j][0]) == 1 and len(runs[j + 1][0]) == 1
               and runs[j + 1][1] - runs[j][2] <= 2):
            j += 1
        if j - i >= 2:
            joined = "".join(r[0] for r in runs[i:j + 1])
            result.append(Word(joined, index[runs[i][1]], index[runs[j][2] - 1] + 1))
            i = j + 1
            continue
        w, s, e = runs[i]
        result.append(Word(w, index[s], index[e - 1] + 1))
        i += 1
    return result


def normalize_term(term: str) -> tuple[str, ...]:
    return tuple(w.text for w in words(term))


@dataclass(frozen=True)
class Hit:
    term: str  # the list entry as the site wrote it
    start: int
    end: int
    text: str  # the matched text as written in the comment


class WordList:
    """A compiled list of terms (single words or phrases)."""

    def __init__(self, terms: Iterable[str]):
        self.terms: dict[tuple[str, ...], str] = {}
        for term in terms:
            key = normalize_term(term)
            if key:
                self.terms.setdefault(key, term)
        self.max_len = max((len(k) for k in self.terms), default=0)

    def __bool__(self) -> bool:
        return bool(self.terms)

    def find(self, text: str, tokens: list[Word] | None = None) -> list[Hit]:
        if not self.terms:
            return []
        tokens = words(text) if tokens is None else tokens
        hits = []
        for i in range(len(tokens)):
            for n in range(min(self.max_len, len(tokens) - i), 0, -1):
                key = tuple(t.text for t in tokens[i:i + n])
                if key in self.terms:
                    start, end = tokens[i].start, tokens[i + n - 1].end
                    hits.append(Hit(self.terms[key], start, end, text[start:end]))
                    break
        return hits
