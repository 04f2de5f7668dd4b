"""Synthetic training rows of the default model: reproducible from their generator, disjoint from the
evaluation-only functional suite, and built as minimal pairs (the same claim under both labels)."""
from __future__ import annotations

import csv
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

DATA = Path(__file__).resolve().parents[1] / "data"


def _rows(path):
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def test_contrast_rows_are_reproduced_by_their_generator(tmp_path):
    out = tmp_path / "contrast.csv"
    subprocess.run([sys.executable, str(DATA / "make_contrast_fr.py"), str(out)], check=True,
                   capture_output=True)
    assert out.read_bytes() == (DATA / "contrast_fr.csv").read_bytes()


def test_contrast_claims_appear_under_both_labels():
    rows = _rows(DATA / "contrast_fr.csv")
    labels = defaultdict(set)
    for r in rows:
        labels[r["pair"]].add(r["toxicity"])
        if r["toxicity"] == "0":
            assert r["identity_attack"] == "0"
    assert len(labels) > 300
    assert all(v == {"0", "1"} for v in labels.values())
    kinds = {r["template"].rsplit("_", 1)[0] for r in rows if r["toxicity"] == "0"}
    assert {"negate", "denounce", "report", "slur_mention", "profanity_ok"} <= kinds


def test_contrast_templates_share_no_sentence_frame_with_the_suite():
    suite = _rows(DATA / "functional_fr.csv")
    contrast = _rows(DATA / "contrast_fr.csv")
    suite_texts = {r["text"] for r in suite}
    assert not suite_texts & {r["text"] for r in contrast}
    # no 6-word sequence of a suite case appears in a training row
    def grams(t, n=6):
        w = t.lower().split()
        return {" ".join(w[i: i + n]) for i in range(len(w) - n + 1)}
    suite_grams = set().union(*(grams(t) for t in suite_texts))
    shared = [r["text"] for r in contrast if grams(r["text"]) & suite_grams]
    assert not shared, shared[:3]
