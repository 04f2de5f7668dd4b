"""Training data: the CSVs under ``data/``, their label mapping and the fixed train/dev split.

Split (fixed, documented in MODEL_CARD.md): a row goes to *dev* when
``int(sha256(text.strip())[:8], 16) % 100`` is below the file's dev share:
50 for ``toxifrench_forum_500.csv`` (the forum comments closest to the product's domain),
15 for the other French files, 0 for the multilingual files (never in dev; they only train).
The same text always lands on the same side, whatever file it comes from.

Every row gets the six Vigie labels; a label the file does not provide is NaN and does
not train that head (masked loss).
"""
from __future__ import annotations

import csv
import hashlib
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from workers.model import LABELS  # one definition: core.vocabulary
NAN = float("nan")

FRENCH_FILES = ["toxifrench_forum_500.csv", "mlma_fr.csv", "ftr_racism.csv", "jigsaw_fr_mt.csv"]
MULTILINGUAL_FILES = ["toxic_spans_en.csv", "davidson_en.csv", "germeval2018_de.csv", "gahd_de.csv",
                      "convabuse_en.csv", "ro_offense_ro.csv", "toldbr_pt.csv", "reddit_br_toxicity_pt.csv"]
FORUM_FILE = "toxifrench_forum_500.csv"
DEV_PERCENT = {FORUM_FILE: 50, "mlma_fr.csv": 15, "ftr_racism.csv": 15, "jigsaw_fr_mt.csv": 15}


@dataclass
class Example:
    text: str
    source: str
    labels: list = field(default_factory=list)  # len(LABELS), NaN = unknown
    split: str = "train"


def text_bucket(text: str) -> int:
    return int(hashlib.sha256(text.strip().encode("utf-8")).hexdigest()[:8], 16) % 100


def split_of(text: str, source: str) -> str:
    return "dev" if text_bucket(text) < DEV_PERCENT.get(source, 0) else "train"


def _f(v) -> float:
    if v is None or v == "":
        return NAN
    return float(v)


def map_labels(source: str, row: dict) -> list:
    """Vigie labels for one row of a known file (NaN where the file says nothing)."""
    y = {k: NAN for k in LABELS}
    if source == "jigsaw_fr_mt.csv":
        y.update(toxicity=_f(row["toxic"]), severe_toxicity=_f(row["severe_toxic"]), obscene=_f(row["obscene"]),
                 threat=_f(row["threat"]), insult=_f(row["insult"]), identity_attack=_f(row["identity_hate"]))
    elif source == "ftr_racism.csv":
        # racist tweets: toxic and an identity attack; the others: neither
        y.update(toxicity=_f(row["label"]), identity_attack=_f(row["label"]))
    elif source == "toxic_spans_en.csv":
        y.update(toxicity=_f(row["label"]), insult=_f(row["insult"]), threat=_f(row["threat"]),
                 identity_attack=_f(row["identity_attack"]), obscene=_f(row["obscene"]))
    elif source == "germeval2018_de.csv":
        fine = row.get("fine", "")
        y["toxicity"] = _f(row["label"])
        if fine == "OTHER":
            y.update(insult=0.0, obscene=0.0)
        elif fine == "INSULT":
            y["insult"] = 1.0
        elif fine == "PROFANITY":
            y["obscene"] = 1.0
    elif source == "ro_offense_ro.csv":
        y.update(toxicity=_f(row["label"]), insult=_f(row["insult"]), obscene=_f(row["profanity"]))
    elif source == "toldbr_pt.csv":
        # per-category flag counts (0-3): a category is on when at least 2 of 3 annotators flagged it
        def on(k):
            return 1.0 if float(row.get(k) or 0) >= 2 else 0.0
        y.update(toxicity=_f(row["label"]), insult=on("insult"), obscene=on("obscene"),
                 identity_attack=max(on("homophobia"), on("racism"), on("misogyny"), on("xenophobia")))
    elif source == "gahd_de.csv":
        y.update(toxicity=_f(row["label"]), identity_attack=_f(row["label"]))
    else:
        # generic file with `label` (toxifrench, mlma, davidson, convabuse, a site's own export)
        # or with Vigie label columns
        for k in LABELS:
            if k in row:
                y[k] = _f(row[k])
        if "label" in row and math.isnan(y["toxicity"]):
            y["toxicity"] = _f(row["label"])
    return [y[k] for k in LABELS]


def read_csv_rows(path: str | Path) -> list[dict]:
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def load_examples(data_dir: str | Path = "data", multilingual: bool | dict = True,
                  max_rows: int | None = None) -> list[Example]:
    """All French rows (train + dev) and, if asked, multilingual training rows.

    ``multilingual`` may be a dict {file: max rows} (rows chosen by text hash, stable).
    ``max_rows`` caps the rows taken from every file (for smoke tests), by text hash.
    """
    data_dir = Path(data_dir)
    out: list[Example] = []
    files = [(data_dir / f, f) for f in FRENCH_FILES]
    caps: dict = {}
    if multilingual:
        caps = multilingual if isinstance(multilingual, dict) else {}
        files += [(data_dir / "multilingual" / f, f) for f in MULTILINGUAL_FILES
                  if not isinstance(multilingual, dict) or f in multilingual]
    for path, name in files:
        if not path.is_file():
            continue
        rows = [r for r in read_csv_rows(path) if r.get("text", "").strip()]
        cap = caps.get(name)
        if max_rows:
            cap = min(cap or max_rows, max_rows)
        if cap and len(rows) > cap:
            rows = sorted(rows, key=lambda r: hashlib.sha256(("cap:" + r["text"]).encode()).hexdigest())[:cap]
        for r in rows:
            out.append(Example(r["text"], name, map_labels(name, r), split_of(r["text"], name)))
    return out


def write_dev_csv(examples: list[Example], path: str | Path) -> int:
    """Write the French dev split with the Vigie label columns (empty = unknown) and its source file."""
    dev = [e for e in examples if e.split == "dev"]
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["text", "source"] + LABELS)
        for e in dev:
            w.writerow([e.text, e.source] + ["" if math.isnan(v) else int(v) for v in e.labels])
    return len(dev)


def labels_matrix(examples: list[Example]) -> np.ndarray:
    return np.array([e.labels for e in examples], dtype=np.float32).reshape(len(examples), len(LABELS))
