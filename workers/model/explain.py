"""What ``Scorer.explain`` highlights, and how to measure it.

Method (chosen on span F1, see MODEL_CARD.md): leave-one-word-out occlusion over **content words only**
(stop words, numbers, mentions and links are never occluded nor highlighted on their own), words whose
weight is at least ``REL_CUTOFF`` of the largest weight, merged with hits of a French insult/profanity word
list (``assets/lexicon_fr.txt``) that the model also scores as raising the label.

Span F1 (the metric of SemEval-2021 task 5, Toxic Spans Detection): per text, F1 between the predicted and
the gold sets of character offsets (1.0 when both are empty, 0.0 when only one is), averaged over texts.
"""
from __future__ import annotations

import re
import unicodedata
from functools import lru_cache
from pathlib import Path

WORD_RE = re.compile(r"\w+(?:['’]\w+)*", re.UNICODE)

_STOP = """
a à au aux avec ce ces cet cette ceci cela ça ca c d de des du dans en et est es sont suis être été il ils elle
elles on je j tu te t toi moi me m se s sa son ses leur leurs lui nous vous y le la les l un une qui que qu quoi
dont où ou mais donc or ni car ne n pas plus moins très trop tout tous toute toutes ne non oui si sur sous
par pour sans chez vers entre comme quand aussi alors déjà encore avoir ai as avait avez avons ont eu fait
faire mon ma mes ton ta tes notre nos votre vos même mêmes autre autres aucun aucune cet celui celle ceux
celles ici là voilà bien peu beaucoup rien jamais toujours après avant depuis pendant contre selon etc
c'est j'ai qu'il qu'ils qu'on n'est l'on d'un d'une s'il jusqu lorsque puis ainsi tant fois hui dont ceci
the a an and or but if of to in on at by for with from as is are was were be been being it its this that these
those i you he she we they me him her us them my your his our their not no so do does did have has had will
would can could should just than then there here what which who whom when where why how all any some
user http https www rt amp
"""
STOP_WORDS = frozenset(w for w in _STOP.split())
REL_CUTOFF = 0.2


def fold(w: str) -> str:
    w = unicodedata.normalize("NFKC", w).lower().replace("’", "'")
    return w


def is_content_word(w: str) -> bool:
    f = fold(w)
    if f in STOP_WORDS or f.isdigit() or len(f) < 2:
        return False
    # "l'imbécile" -> judge the part after the elision
    if "'" in f:
        head, tail = f.split("'", 1)
        if head in STOP_WORDS or len(head) <= 2:
            return bool(tail) and tail not in STOP_WORDS and not tail.isdigit()
    return True


@lru_cache(maxsize=1)
def lexicon() -> frozenset:
    p = Path(__file__).parent / "assets" / "lexicon_fr.txt"
    return frozenset(fold(w) for w in p.read_text(encoding="utf-8").split() if w)


def in_lexicon(w: str) -> bool:
    f = fold(w)
    if "'" in f:
        f = f.split("'", 1)[1]
    lex = lexicon()
    return f in lex or (f.endswith("s") and f[:-1] in lex)


def content_words(text: str) -> list[tuple[int, int]]:
    return [(m.start(), m.end()) for m in WORD_RE.finditer(text) if is_content_word(m.group(0))]


def span_chars(spans) -> set[int]:
    out: set[int] = set()
    for s in spans:
        a, b = (s["start"], s["end"]) if isinstance(s, dict) else (s[0], s[1])
        out.update(range(a, b))
    return out


def span_f1(pred: set[int], gold: set[int]) -> float:
    if not pred and not gold:
        return 1.0
    if not pred or not gold:
        return 0.0
    tp = len(pred & gold)
    if not tp:
        return 0.0
    p, r = tp / len(pred), tp / len(gold)
    return 2 * p * r / (p + r)
