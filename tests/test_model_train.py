"""`vigie train` end to end on a tiny copy of the data: an artifact that `load` and `vigie eval` accept."""
from __future__ import annotations

import csv
import json
from pathlib import Path

from click.testing import CliRunner

DATA = Path(__file__).resolve().parents[1] / "data"


def _tiny_data(dst: Path, rows: int = 24) -> Path:
    from workers.model.data import FRENCH_FILES, split_of

    dst.mkdir()
    for name in FRENCH_FILES:
        with open(DATA / name, newline="", encoding="utf-8") as f:
            reader = csv.DictReader(f)
            fields, all_rows = reader.fieldnames, list(reader)
        # some train and some dev rows of each file
        train = [r for r in all_rows if split_of(r["text"], name) == "train"][: rows // 2]
        dev = [r for r in all_rows if split_of(r["text"], name) == "dev"][: rows // 2]
        with open(dst / name, "w", newline="", encoding="utf-8") as f:
            w = csv.DictWriter(f, fieldnames=fields)
            w.writeheader()
            w.writerows(train + dev)
    return dst


def test_train_writes_a_loadable_artifact(tmp_path, model_cache, monkeypatch):
    from workers.cli import main
    from workers.model import LABELS, load

    monkeypatch.setenv("VIGIE_MODEL_CACHE", str(model_cache))
    data = _tiny_data(tmp_path / "data")
    out = tmp_path / "artifact"
    dev = tmp_path / "dev.csv"
    res = CliRunner().invoke(main, ["train", "--data-dir", str(data), "--output-dir", str(out), "--epochs", "1",
                                    "--no-stage2", "--french-only", "--threads", "2", "--write-dev", str(dev)])
    assert res.exit_code == 0, res.output
    assert {p.name for p in out.iterdir()} >= {"adapter.safetensors", "config.json", "metrics.json"}
    conf = json.loads((out / "config.json").read_text())
    assert conf["labels"] == LABELS and 0.0 < conf["threshold"] < 1.0
    assert not list(out.glob("*.bin")) and not list(out.glob("*.pt"))  # safetensors only
    scorer = load(str(out), cache_dir=model_cache)
    assert scorer.threshold == conf["threshold"]
    assert set(scorer.predict(["Bonjour à tous"])[0]) == set(LABELS)
    res = CliRunner().invoke(main, ["eval", str(dev), "--label-column", "toxicity", "--model", str(out)])
    assert res.exit_code == 0, res.output
    assert "toxicity" in res.output and "ROC AUC" in res.output


def test_train_stage2_reuses_a_stage1_artifact(tmp_path, model_cache, monkeypatch):
    """--stage2 --stage1 DIR: top layers fine-tuned on cached hidden states; the artifact loads, holds the
    top layers in float16 next to the LoRA factors of the frozen ones, and scores like a normal model."""
    from safetensors import safe_open

    from workers.cli import main
    from workers.model import DEFAULT_ARTIFACT, LABELS, load

    monkeypatch.setenv("VIGIE_MODEL_CACHE", str(model_cache))
    data = _tiny_data(tmp_path / "data")
    out = tmp_path / "artifact2"
    res = CliRunner().invoke(main, ["train", "--data-dir", str(data), "--output-dir", str(out), "--stage2",
                                    "--stage1", str(DEFAULT_ARTIFACT), "--top-epochs", "1", "--french-only",
                                    "--threads", "2"])
    assert res.exit_code == 0, res.output
    conf = json.loads((out / "config.json").read_text())
    assert conf["train_config"]["stage2"]["frozen_layers"] == 10 and 0.0 < conf["threshold"] < 1.0
    with safe_open(str(out / "adapter.safetensors"), "pt") as f:
        keys = set(f.keys())
        assert f.get_tensor("encoder.encoder.layer.11.output.dense.weight").dtype.is_floating_point
    assert not any(".lora_" in k and ".layer.11." in k for k in keys)  # top layers are stored whole
    assert any(".lora_" in k and ".layer.0." in k for k in keys)
    scorer = load(str(out), cache_dir=model_cache)
    assert set(scorer.predict(["Bonjour à tous"])[0]) == set(LABELS)
