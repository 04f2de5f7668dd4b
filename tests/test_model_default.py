"""The built-in default model (real weights, no mocks): scores, order, long texts, explanations, CLI."""
from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from workers.model import DEFAULT_NAME, LABELS, load

TOXIC = "C'est l'écoeurement à en vomir devant tant de haine, ces merdias"
CLEAN = "Le lancement de la fusée Soyouz était magnifique"


@pytest.fixture(scope="module")
def vigie(model_cache):
    return load(DEFAULT_NAME, threads=2, cache_dir=model_cache)


@pytest.fixture()
def cli_env(model_cache, monkeypatch):
    monkeypatch.setenv("VIGIE_MODEL_CACHE", str(model_cache))
    monkeypatch.delenv("VIGIE_MODEL", raising=False)


def test_default_scorer_attributes(vigie):
    assert vigie.name == DEFAULT_NAME
    assert vigie.labels == LABELS
    assert 0.05 < vigie.threshold < 0.95
    assert vigie.version


def test_seed_sentences(vigie):
    toxic, clean = vigie.predict([TOXIC, CLEAN])
    assert toxic["toxicity"] > vigie.threshold > clean["toxicity"]
    assert toxic["toxicity"] - clean["toxicity"] > 0.5


def test_batch_order_is_preserved(vigie):
    texts = [CLEAN, TOXIC * 3, "Bonjour", TOXIC, CLEAN + " " + CLEAN]
    batch = vigie.predict(texts)
    single = [vigie.predict([t])[0] for t in texts]
    for b, s in zip(batch, single):
        assert set(b) == set(LABELS)
        for k in LABELS:
            assert b[k] == pytest.approx(s[k], abs=1e-4)


def test_toxic_phrase_at_the_end_of_a_long_text_is_caught(vigie):
    filler = ("Le conseil municipal a voté le budget de la médiathèque et la rénovation du gymnase "
              "après un long débat sur les horaires d'ouverture. ")
    words = filler.split()
    long_clean = " ".join((words * (2000 // len(words) + 1))[:2000])
    long_toxic = long_clean + " " + "Ferme ta gueule, espèce de connard, sale merde."
    clean, toxic = vigie.predict([long_clean, long_toxic])
    assert clean["toxicity"] < vigie.threshold
    assert toxic["toxicity"] > vigie.threshold


def test_explain_points_at_the_insult(vigie):
    text = "Merci pour cet article, mais l'auteur est un gros connard."
    spans = vigie.explain(text, top_k=3)
    assert spans and len(spans) <= 3
    for s in spans:
        assert text[s["start"]: s["end"]] == s["text"] and s["weight"] > 0
    assert "connard" in [s["text"] for s in spans]


def test_empty_input(vigie):
    assert vigie.predict([]) == []
    assert set(vigie.predict([""])[0]) == set(LABELS)


def test_cli_score_stdin(cli_env):
    from workers.cli import main

    res = CliRunner().invoke(main, ["score", "-"], input=f"{TOXIC}\n{CLEAN}\n")
    assert res.exit_code == 0, res.output
    lines = [json.loads(x) for x in res.output.strip().splitlines()]
    assert [x["decision"] for x in lines] == ["flag", "approve"]
    assert lines[0]["scores"]["toxicity"] - lines[1]["scores"]["toxicity"] > 0.5


def test_cli_eval_fields(cli_env, tmp_path):
    from workers.cli import main

    f = tmp_path / "small.csv"
    f.write_text("text,label\n" + f'"{TOXIC}",1\n"{CLEAN}",0\n"Quel connard ce type",1\n"Bonne journée à tous",0\n',
                 encoding="utf-8")
    out = tmp_path / "m.json"
    res = CliRunner().invoke(main, ["eval", str(f), "--label-column", "label", "--json", str(out)])
    assert res.exit_code == 0, res.output
    assert "ROC AUC" in res.output and "F1" in res.output
    m = json.loads(out.read_text())
    tox = m["labels"]["toxicity"]
    for key in ("roc_auc", "precision", "recall", "f1", "confusion_matrix", "threshold"):
        assert key in tox
    assert set(tox["confusion_matrix"]) == {"tn", "fp", "fn", "tp"}
    assert tox["n"] == 4 and tox["roc_auc"] == 1.0


def test_int8_scores_stay_close(vigie, model_cache):
    q = load(DEFAULT_NAME, quantize="int8", threads=2, cache_dir=model_cache)
    assert q.version.endswith("+int8")
    a, b = vigie.predict([TOXIC, CLEAN]), q.predict([TOXIC, CLEAN])
    assert abs(a[0]["toxicity"] - b[0]["toxicity"]) < 0.15 and b[0]["toxicity"] > b[1]["toxicity"] + 0.5


def test_inference_sees_the_same_tokens_as_training(vigie):
    """A short comment is scored on exactly the token ids the model was trained on (prefix and first word kept)."""
    from workers.model.train import encode_texts

    texts = ["Bonjour", "", "  espaces devant", "Quel connard", TOXIC]
    windows, owner = vigie._windows(texts)
    assert owner == list(range(len(texts)))
    assert windows == encode_texts(vigie.tokenizer, texts, 128)
    assert vigie.predict(["Bonjour"])[0] != vigie.predict([""])[0]
