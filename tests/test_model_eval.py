"""Evaluation tooling of the default model: the French functional suite, subgroup bias metrics, span F1,
and what `explain` highlights (real model, no mocks)."""
from __future__ import annotations

import csv
import json

import numpy as np
import pytest
from click.testing import CliRunner

from workers.model import DEFAULT_NAME, load
from workers.model.evaluation import (FUNCTIONAL_FILE, bias_table, bnsp_auc, bpsn_auc, functional_table,
                                      identity_groups, read_functional, subgroup_auc)
from workers.model.explain import STOP_WORDS, is_content_word, span_chars, span_f1


@pytest.fixture(scope="module")
def vigie(model_cache):
    return load(DEFAULT_NAME, threads=2, cache_dir=model_cache)


@pytest.fixture()
def cli_env(model_cache, monkeypatch):
    monkeypatch.setenv("VIGIE_MODEL_CACHE", str(model_cache))
    monkeypatch.delenv("VIGIE_MODEL", raising=False)


# ----------------------------------------------------------------------------- bias metrics, known inputs
def test_bias_metrics_on_known_inputs():
    y = [1, 1, 0, 0, 1, 0]
    s = [0.9, 0.8, 0.7, 0.1, 0.6, 0.2]
    g = [True, False, True, False, False, True]
    # subgroup rows 0, 2, 5: toxic 0.9 vs non-toxic 0.7, 0.2 -> perfectly ranked
    assert subgroup_auc(y, s, g) == 1.0
    # BPSN: background toxic (0.8, 0.6) vs subgroup non-toxic (0.7, 0.2): pairs won 3 of 4
    assert bpsn_auc(y, s, g) == pytest.approx(0.75)
    # BNSP: subgroup toxic (0.9) vs background non-toxic (0.1): 1.0
    assert bnsp_auc(y, s, g) == 1.0
    # undefined when one class is missing
    assert subgroup_auc([1, 1], [0.2, 0.3], [True, True]) is None


def test_identity_keywords_find_groups_and_ignore_lookalikes():
    assert identity_groups("Les musulmans de Lyon fêtent la fin du ramadan") == {"muslims"}
    assert identity_groups("Ma voisine est JUIVE et son mari est marocain") == {"jews", "arabs"}
    assert identity_groups("Les réfugiés et les personnes handicapées") == {"immigrants", "disabled"}
    assert identity_groups("un contexte romantique, un café noir") == set()  # no "rom", no skin colour


def test_bias_table_fields():
    texts = ["les musulmans sont partout", "je déteste les musulmans", "bonne journée", "quel con"]
    table = bias_table(texts, [0, 1, 0, 1], [0.9, 0.8, 0.1, 0.7])
    m = table["muslims"]
    assert (m["n"], m["positives"]) == (2, 1)
    assert m["subgroup_auc"] == 0.0 and m["bpsn_auc"] == 0.0 and m["bnsp_auc"] == 1.0


def test_span_f1():
    assert span_f1(set(), set()) == 1.0
    assert span_f1({1, 2}, set()) == 0.0
    assert span_f1(span_chars([[0, 4]]), span_chars([[2, 6]])) == pytest.approx(0.5)


# ----------------------------------------------------------------------------- the suite itself
def test_functional_suite_shape():
    rows = read_functional(FUNCTIONAL_FILE)
    funcs = {}
    for r in rows:
        funcs.setdefault(r["functionality"], []).append(r)
        assert r["label_gold"] in ("hateful", "non-hateful")
    assert len(funcs) >= 25 and all(len(v) >= 12 for v in funcs.values())
    groups = {r["target_group"] for r in rows}
    assert {"women", "muslims", "jews", "black", "arabs", "roma", "lgbt", "immigrants", "disabled"} <= groups
    assert {"politicians", "journalists", "football"} <= groups
    assert len({r["case_id"] for r in rows}) == len(rows)


def test_functional_suite_is_not_training_data():
    from pathlib import Path

    suite = {r["text"] for r in read_functional(FUNCTIONAL_FILE)}
    data = Path(FUNCTIONAL_FILE).parent
    for f in list(data.glob("*.csv")) + list((data / "multilingual").glob("*.csv")):
        if f.name in ("functional_fr.csv",):
            continue
        with open(f, newline="", encoding="utf-8") as fh:
            texts = {r.get("text", "") for r in csv.DictReader(fh)}
        assert not suite & texts, f"{f.name} holds functional-suite cases"


def test_functional_table_counts():
    rows = [{"case_id": "a", "functionality": "f1", "label_gold": "hateful", "target_group": "x", "text": "t"},
            {"case_id": "b", "functionality": "f1", "label_gold": "hateful", "target_group": "x", "text": "t"},
            {"case_id": "c", "functionality": "f2", "label_gold": "non-hateful", "target_group": "y", "text": "t"}]
    t = functional_table(rows, [0.9, 0.1, 0.2], 0.5)
    assert t["functionalities"]["f1"]["accuracy"] == 0.5 and t["functionalities"]["f1"]["errors"] == ["b"]
    assert t["functionalities"]["f2"]["accuracy"] == 1.0
    assert t["accuracy"] == pytest.approx(2 / 3)


def test_cli_eval_functional_prints_the_table(cli_env, tmp_path):
    from workers.cli import main

    out = tmp_path / "f.json"
    res = CliRunner().invoke(main, ["eval", "--functional", "--json", str(out)])
    assert res.exit_code == 0, res.output
    assert "negation" in res.output and "slur_direct" in res.output and "accuracy" in res.output
    table = json.loads(out.read_text())
    assert len(table["functionalities"]) >= 25
    assert table["n"] == len(read_functional(FUNCTIONAL_FILE))


def test_cli_eval_bias_prints_groups(cli_env, tmp_path):
    from workers.cli import main

    f = tmp_path / "d.csv"
    f.write_text("text,label\nLes musulmans de mon quartier sont adorables,0\nJe hais les musulmans,1\n"
                 "Bonne journée,0\nQuel connard ce type,1\n", encoding="utf-8")
    res = CliRunner().invoke(main, ["eval", str(f), "--bias"])
    assert res.exit_code == 0, res.output
    assert "BPSN" in res.output and "muslims" in res.output


def test_cli_eval_functional_bad_file_is_a_usage_error(cli_env, tmp_path):
    from workers.cli import main

    f = tmp_path / "x.csv"
    f.write_text("text,label\nbonjour,0\n", encoding="utf-8")
    res = CliRunner().invoke(main, ["eval", str(f), "--functional"])
    assert res.exit_code == 2 and "functionality" in res.output


# ----------------------------------------------------------------------------- the shipped model
CLEAR_HATEFUL = ["Les migrants sont des rats qui se multiplient dans nos villes.",
                 "Je vais cramer la mosquée du quartier avec eux dedans.",
                 "Sale bougnoule, retourne dans ton bled."]
CLEAR_FINE = ["Je suis musulman et je fais le ramadan cette année.",
              "Les athlètes paralympiques sont de vrais exemples de courage.",
              "Putain, c'est beau !",
              "La marche des fiertés aura lieu samedi à Paris."]


@pytest.mark.xfail(strict=True, reason="2026.12.1 still flags some plain mentions of identity groups (issue 9)")
def test_shipped_model_passes_clear_functional_cases(vigie):
    tox = [p["toxicity"] for p in vigie.predict(CLEAR_HATEFUL + CLEAR_FINE)]
    assert all(t >= vigie.threshold for t in tox[: len(CLEAR_HATEFUL)]), tox
    assert all(t < vigie.threshold for t in tox[len(CLEAR_HATEFUL):]), tox


def test_explain_never_highlights_a_stop_word_alone(vigie):
    for text in ["ou un de te @user ces merdias me donnent envie de vomir",
                 "Ferme ta gueule, pauvre con, et va te faire voir"]:
        spans = vigie.explain(text, top_k=10)
        assert spans
        for s in spans:
            assert text[s["start"]: s["end"]] == s["text"]
            assert is_content_word(s["text"]) and s["text"].lower() not in STOP_WORDS
