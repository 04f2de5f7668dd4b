"""Any Hugging Face sequence-classification model loads through the same `load`, with its labels mapped."""
from __future__ import annotations

import pytest
import torch

from workers.model import load


def _tiny_model(path, id2label, problem_type=None):
    from tokenizers import Tokenizer, models, pre_tokenizers, processors
    from transformers import BertConfig, BertForSequenceClassification, PreTrainedTokenizerFast

    words = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "le", "la", "de", "fusée", "était", "magnifique", "haine",
             "connard", "tu", "es", "un"]
    tok = Tokenizer(models.WordLevel({w: i for i, w in enumerate(words)}, unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tok.post_processor = processors.TemplateProcessing(single="[CLS] $A [SEP]", special_tokens=[("[CLS]", 2), ("[SEP]", 3)])
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="[UNK]", pad_token="[PAD]", cls_token="[CLS]",
                                   sep_token="[SEP]", model_max_length=32)
    torch.manual_seed(0)
    cfg = BertConfig(vocab_size=len(words), hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                     intermediate_size=32, max_position_embeddings=32, num_labels=len(id2label),
                     id2label=id2label, label2id={v: k for k, v in id2label.items()}, problem_type=problem_type)
    BertForSequenceClassification(cfg).save_pretrained(path)
    fast.save_pretrained(path)
    return path


def test_multilabel_model_labels_are_mapped(tmp_path):
    path = _tiny_model(tmp_path / "ml", {0: "toxic", 1: "severe_toxic", 2: "identity_hate", 3: "Insult"},
                       "multi_label_classification")
    scorer = load(str(path))
    assert scorer.labels == ["toxicity", "severe_toxicity", "identity_attack", "insult"]
    assert scorer.threshold == 0.5
    out = scorer.predict(["la fusée était magnifique", "tu es un connard"])
    assert len(out) == 2 and set(out[0]) == set(scorer.labels)
    assert all(0.0 <= v <= 1.0 for p in out for v in p.values())


def test_binary_model_gives_toxicity_by_softmax(tmp_path):
    path = _tiny_model(tmp_path / "bin", {0: "LABEL_0", 1: "LABEL_1"})
    scorer = load(str(path))
    assert scorer.labels == ["toxicity"]
    texts = ["la fusée", "haine " * 200 + "connard"]  # the second needs several windows of 32 tokens
    out = scorer.predict(texts)
    assert [list(p) for p in out] == [["toxicity"], ["toxicity"]]
    # one string in a list -> one dict, same value as in a batch
    assert scorer.predict([texts[0]])[0]["toxicity"] == pytest.approx(out[0]["toxicity"], abs=1e-5)


def test_int8_foreign_model_loads(tmp_path):
    path = _tiny_model(tmp_path / "q", {0: "non-toxic", 1: "toxic"})
    scorer = load(str(path), quantize="int8", threads=1)
    assert scorer.labels == ["toxicity"]
    assert 0.0 <= scorer.predict(["le la de"])[0]["toxicity"] <= 1.0
