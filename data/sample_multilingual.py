"""Deterministic sample of the multilingual files (run once; kept for provenance).

The source folder (see SOURCE_README.md) holds ~9 MB of other-language data; the repo keeps
at most N rows per file, chosen by the SHA-256 of the text (stable across runs and machines):

    python data/sample_multilingual.py SOURCE_DIR/multilingual data/multilingual
"""
import csv
import hashlib
import sys
from pathlib import Path

KEEP = {  # rows kept per file (all rows where the file is smaller)
    "toxic_spans_en.csv": 6000,
    "davidson_en.csv": 5000,
    "gahd_de.csv": 5000,
    "germeval2018_de.csv": 5000,
    "convabuse_en.csv": 5000,
}


def main(src: str, dst: str) -> None:
    Path(dst).mkdir(parents=True, exist_ok=True)
    for name, n in KEEP.items():
        with open(Path(src) / name, newline="", encoding="utf-8") as f:
            reader = csv.DictReader(f)
            fields = reader.fieldnames
            rows = list(reader)
        keyed = sorted(rows, key=lambda r: hashlib.sha256(r["text"].encode("utf-8")).hexdigest())
        keep = {id(r) for r in keyed[:n]}
        out = [r for r in rows if id(r) in keep]  # original order
        with open(Path(dst) / name, "w", newline="", encoding="utf-8") as f:
            w = csv.DictWriter(f, fieldnames=fields)
            w.writeheader()
            w.writerows(out)
        print(f"{name}: kept {len(out)} of {len(rows)}")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
