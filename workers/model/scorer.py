"""Scorers: the built-in Vigie model and any Hugging Face sequence-classification model.

Long comments: a text is tokenized whole, then cut into windows of at most ``max_length``
tokens (``<s>`` + ``query: `` + content + ``</s>``) that overlap by ``chunk_overlap`` tokens;
every window is scored and a text's score for each label is the **maximum over its windows**,
so a toxic sentence at the end of a long comment is never cut off or averaged away.
All windows of a call are sorted by length and scored in batches (little padding), under
``torch.inference_mode``.

Pacing: a scorer may carry a ``pace`` (the worker process sets one, ``workers.sync_jobs.SyncLane``): ``predict``
then keeps each forward pass within ``pace.max_tokens()`` padded tokens and calls ``pace.between(tokens, seconds)``
after each one, so a long comment (a 20 KB text is ~60 windows) is scored in short slices with other work (the
synchronous requests waiting) served in between.
"""
from __future__ import annotations

import json
import re
import time
from pathlib import Path

import numpy as np
import torch

WORD_RE = re.compile(r"\w+(?:['’]\w+)*", re.UNICODE)


def _chunks(content: list[int], window: int, overlap: int) -> list[list[int]]:
    if len(content) <= window:
        return [content]
    step = max(1, window - overlap)
    out = []
    for s in range(0, len(content), step):
        out.append(content[s: s + window])
        if s + window >= len(content):
            break
    return out


BATCH_OVERHEAD_TOKENS = 48  # the cost of one more forward call, in padded tokens (measured order of magnitude)


def plan_batches(lengths, max_batch: int, overhead: int = BATCH_OVERHEAD_TOKENS,
                 max_tokens: int | None = None) -> list[np.ndarray]:
    """Split items into batches of at most ``max_batch`` that minimise padded tokens + per-call overhead.

    Items are sorted by length; a dynamic programme then chooses the cut points (cost of a batch =
    its size x its longest item + ``overhead``). Comments of similar length share a batch; a call with
    a few long comments does not pad every short one to their length. With ``max_tokens``, no batch of
    two or more items pads to more than that many tokens.
    """
    order = np.argsort(lengths, kind="stable")
    ls = [lengths[i] for i in order]
    n = len(ls)
    best = [0.0] + [float("inf")] * n
    cut = [0] * (n + 1)
    for j in range(1, n + 1):
        for i in range(j - 1, max(0, j - max_batch) - 1, -1):
            if max_tokens and i < j - 1 and (j - i) * ls[j - 1] > max_tokens:
                break
            c = best[i] + (j - i) * ls[j - 1] + overhead
            if c <= best[j]:  # on a tie the larger batch, as an ascending scan with "<" would choose
                best[j], cut[j] = c, i
    out = []
    j = n
    while j > 0:
        out.append(order[cut[j]: j])
        j = cut[j]
    return out[::-1]


class Scorer:
    """``predict(texts) -> list[dict[label, probability]]`` (same order as ``texts``)."""

    name: str
    version: str
    labels: list[str]
    threshold: float | None
    batch_size: int = 32
    pace = None  # see the module's docstring: set by the worker process

    # subclasses provide _windows(texts) -> (list of id lists, owner index per window) and _forward
    def _windows(self, texts):
        raise NotImplementedError

    def _forward(self, x, m):
        raise NotImplementedError

    def windows(self, texts: list[str]) -> tuple[list[list[int]], list[int]]:
        """The token windows of ``texts`` (each a list of ids) and, for each window, the index of its text."""
        return self._windows(list(texts))

    @torch.inference_mode()
    def score_windows(self, wins: list[list[int]], heads=None) -> np.ndarray:
        """Probabilities (windows x labels) of windows from ``windows``, in one forward pass (padded to the
        longest). ``heads`` (scorers with ``supports_heads``): one entry per window, None or a per-site head
        applied to that window's pooled embedding instead of the model's own head (one encoder pass whatever the
        mix of sites, as in ``predict``)."""
        L = max(len(w) for w in wins)
        x = torch.full((len(wins), L), self.pad_id, dtype=torch.long)
        m = torch.zeros((len(wins), L), dtype=torch.long)
        for r, w in enumerate(wins):
            x[r, : len(w)] = torch.as_tensor(w)
            m[r, : len(w)] = 1
        x, m = x.to(self.device), m.to(self.device)
        if heads is not None and self.supports_heads and any(h is not None for h in heads):
            return self._probs_with_heads(x, m, list(heads))
        return self._forward(x, m).float().cpu().numpy()

    def _probs_with_heads(self, x, m, heads) -> np.ndarray:
        """One encoder pass over the padded rows ``x``/``m``; row r's probabilities come from ``heads[r]`` (None:
        the model's own head). The one place a site head meets the encoder (drain and sync alike)."""
        pooled = self._pool(x, m)
        p = torch.sigmoid(self._head(pooled))
        rows_by_head: dict[int, tuple[object, list[int]]] = {}
        for r, head in enumerate(heads):
            if head is not None:
                rows_by_head.setdefault(id(head), (head, []))[1].append(r)
        for head, rows in rows_by_head.values():
            idx = torch.as_tensor(rows, device=pooled.device)
            p[idx] = torch.sigmoid(head.logits(pooled[idx]))
        return p.float().cpu().numpy()

    supports_heads = False  # a scorer with a pooled embedding can apply per-site heads (predict's ``heads``)

    def _batches(self, wins):
        for b in plan_batches([len(w) for w in wins], self.batch_size):
            L = max(len(wins[j]) for j in b)
            x = torch.full((len(b), L), self.pad_id, dtype=torch.long)
            m = torch.zeros((len(b), L), dtype=torch.long)
            for r, j in enumerate(b):
                x[r, : len(wins[j])] = torch.as_tensor(wins[j])
                m[r, : len(wins[j])] = 1
            yield b, x.to(self.device), m.to(self.device)

    @torch.inference_mode()
    def predict(self, texts: list[str], heads=None) -> list[dict[str, float]]:
        """Scores per text. ``heads`` (scorers with ``supports_heads``): one entry per text, None or a per-site
        head (``workers.model.sitehead.SiteHead``) applied to that text's pooled embedding instead of the
        model's own head; the encoder runs once for the whole batch, whatever the mix of sites."""
        if isinstance(texts, str):
            raise TypeError("predict takes a list of strings")
        texts = list(texts)
        if not texts:
            return []
        if heads is not None and any(h is not None for h in heads) and self.supports_heads:
            return self._predict_with_heads(texts, list(heads))
        wins, owner = self._windows(texts)
        probs = np.zeros((len(wins), len(self.labels)), dtype=np.float32)
        pace = self.pace
        lengths = np.asarray([len(w) for w in wins])
        todo = np.arange(len(wins))
        while len(todo):  # with a pace, the windows left are planned again whenever its slice size changes
            cap = pace.max_tokens() if pace is not None else None
            planned = todo
            for b in plan_batches(lengths[planned], self.batch_size, max_tokens=cap):
                b = planned[b]
                started = time.perf_counter()
                probs[b] = self.score_windows([wins[j] for j in b])
                todo = todo[~np.isin(todo, b)]
                if pace is not None:
                    pace.between(int(len(b) * lengths[b].max()), time.perf_counter() - started)
                    if pace.max_tokens() != cap:
                        break
        out = np.full((len(texts), len(self.labels)), -1.0, dtype=np.float32)
        np.maximum.at(out, np.asarray(owner), probs)
        return [{lab: float(v) for lab, v in zip(self.labels, row)} for row in out]

    def _predict_with_heads(self, texts, heads):
        wins, owner = self._windows(texts)
        owner_arr = np.asarray(owner)
        probs = np.zeros((len(wins), len(self.labels)), dtype=np.float32)
        for b, x, m in self._batches(wins):
            probs[b] = self._probs_with_heads(x, m, [heads[owner_arr[j]] for j in b])
        out = np.full((len(texts), len(self.labels)), -1.0, dtype=np.float32)
        np.maximum.at(out, owner_arr, probs)
        return [{lab: float(v) for lab, v in zip(self.labels, row)} for row in out]

    @torch.inference_mode()
    def embed(self, texts: list[str], first_window_only: bool = True) -> np.ndarray:
        """The pooled encoder output of each text's first window (what a per-site head is trained on):
        float32 [len(texts), hidden]."""
        wins, owner = self._windows(list(texts))
        first: dict[int, int] = {}
        for j, o in enumerate(owner):
            first.setdefault(o, j)
        keep = [first[i] for i in range(len(texts))] if first_window_only else list(range(len(wins)))
        sub = [wins[j] for j in keep]
        out = None
        for b, x, m in self._batches(sub):
            pooled = self._pool(x, m).float().cpu().numpy()
            if out is None:
                out = np.zeros((len(sub), pooled.shape[1]), dtype=np.float32)
            out[b] = pooled
        return out if out is not None else np.zeros((0, 0), dtype=np.float32)

    def explain(self, text: str, label: str = "toxicity", top_k: int = 5, max_words: int = 64,
                method: str = "content+lexicon", rel_cutoff: float | None = None) -> list[dict]:
        """Character spans of the words that most raise ``label``'s score.

        Leave-one-word-out occlusion over the **content words** of the text (stop words, numbers, mentions
        and links are never highlighted on their own): the text is re-scored once per word with that word
        removed (all variants in one batched ``predict`` call); a word's weight is how much the score drops
        without it. Words whose weight is below ``rel_cutoff`` (default ``explain.REL_CUTOFF``) times the
        largest weight are dropped, except hits of the French insult word list (``method`` with
        ``+lexicon``) that still raise the score. A text of more than ``max_words`` content words is first
        cut into overlapping stretches; only the highest-scoring stretch is occluded (cost: one ``predict``
        of at most ``max_words + 1`` texts). ``method="all"`` occludes every word (the 2026.11 behaviour).
        Returns up to ``top_k`` spans with a positive weight, largest first:
        ``[{"start", "end", "text", "weight"}]`` (character offsets in ``text``).
        """
        from .explain import REL_CUTOFF, content_words, in_lexicon

        cutoff = REL_CUTOFF if rel_cutoff is None else rel_cutoff
        if method == "all":
            words = [(m.start(), m.end()) for m in WORD_RE.finditer(text)]
            cutoff = 0.0 if rel_cutoff is None else rel_cutoff
        else:
            words = content_words(text)
        if not words:
            return []
        if len(words) > max_words:
            # occlude inside the stretch of max_words words that scores highest (cheap: one batch)
            starts = list(range(0, len(words) - max_words + 1, max(1, max_words // 2)))
            if starts[-1] != len(words) - max_words:
                starts.append(len(words) - max_words)
            pieces = [text[words[s][0]: words[s + max_words - 1][1]] for s in starts]
            sc = [p[label] for p in self.predict(pieces)]
            s0 = starts[int(np.argmax(sc))]
            words = words[s0: s0 + max_words]
        variants = [text[: a] + text[b:] for a, b in words]
        scores = self.predict([text] + variants)
        base = scores[0][label]
        spans = [{"start": a, "end": b, "text": text[a:b], "weight": float(base - s[label])}
                 for (a, b), s in zip(words, scores[1:])]
        spans = [s for s in spans if s["weight"] > 0]
        if spans:
            top = max(s["weight"] for s in spans)
            lex = method.endswith("+lexicon")
            spans = [s for s in spans if s["weight"] >= cutoff * top or (lex and in_lexicon(s["text"]))]
        spans.sort(key=lambda s: -s["weight"])
        return spans[:top_k]

    def __repr__(self):
        return f"<{type(self).__name__} {self.name} {self.version} labels={self.labels}>"


def _set_threads(threads):
    if threads:
        torch.set_num_threads(int(threads))


def quantize_int8(module: torch.nn.Module) -> torch.nn.Module:
    """torch dynamic int8 quantization of every nn.Linear: weights int8 with one scale per output channel,
    activations quantized per batch. (Per-tensor weight scales cost the default model 0.006 dev AUC,
    per-channel 0.003; see MODEL_CARD.md.)"""
    import warnings

    from torch.ao.quantization import per_channel_dynamic_qconfig, quantize_dynamic

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return quantize_dynamic(module, {torch.nn.Linear: per_channel_dynamic_qconfig}, dtype=torch.qint8,
                                inplace=True)


# ----------------------------------------------------------------------------- built-in model
class VigieScorer(Scorer):
    """Base e5 encoder + merged LoRA + multi-label head (see ``workers/model/default``)."""

    def __init__(self, artifact_dir, device="cpu", quantize=None, threads=None, cache_dir=None):
        from safetensors.torch import load_file as load_pt
        from tokenizers import Tokenizer

        from .base import build_base, load_safetensors_mmap
        from .network import ToxicityClassifier, apply_adapter, make_encoder

        _set_threads(threads)
        art = Path(artifact_dir)
        conf = json.loads((art / "config.json").read_text())
        base = build_base(cache_dir)
        self.tokenizer = Tokenizer.from_file(str(base / "tokenizer.json"))
        self.tokenizer.no_truncation()
        self.tokenizer.no_padding()
        weights = load_safetensors_mmap(base / "model.safetensors")
        if device != "cpu":
            weights = {k: np.array(v) for k, v in weights.items()}
        enc = make_encoder(json.loads((base / "config.json").read_text()), weights)
        adapter = load_pt(str(art / "adapter.safetensors"))
        scale = conf["lora"]["alpha"] / conf["lora"]["r"]
        # merge LoRA into the base weights: W <- W + scale * B @ A (no adapter cost at inference), and copy
        # the fully fine-tuned top layers (stage 2 of the recipe) over the base ones: same encoder, same cost
        apply_adapter(enc, adapter, scale)
        self.labels = list(conf["labels"])
        model = ToxicityClassifier(enc, len(self.labels))
        with torch.no_grad():
            model.head.weight.copy_(adapter["head.weight"])
            model.head.bias.copy_(adapter["head.bias"])
        model.eval()
        if quantize == "int8":
            if device != "cpu":
                raise ValueError("quantize='int8' is CPU only")
            # the encoder only: the 6-output head stays float32 (it costs nothing)
            model.encoder = quantize_int8(model.encoder)
        elif quantize not in (None, "", "none"):
            raise ValueError(f"unknown quantize option {quantize!r} (use 'int8')")
        self.model = model.to(device)
        self.device = device
        self.name = conf["name"]
        self.version = conf["version"] + ("+int8" if quantize == "int8" else "")
        self.threshold = float(conf["threshold"])
        self.config = conf
        self.max_length = int(conf.get("max_length", 128))
        self.overlap = int(conf.get("chunk_overlap", 32))
        self.prefix = conf.get("prefix", "query: ")
        self.pad_id = 1
        # "query: Bonjour" -> <s> ▁que ry : ▁Bonjour </s>: the prefix's trailing space belongs to the next word,
        # so the prefix tokens are those of "query:" (checked against every encoding in _windows)
        pe = self.tokenizer.encode(self.prefix.rstrip()).ids
        self.bos, self.eos, self.prefix_ids = pe[0], pe[-1], pe[1:-1]

    def _windows(self, texts):
        encs = self.tokenizer.encode_batch([self.prefix + t for t in texts])
        window = self.max_length - 2 - len(self.prefix_ids)
        wins, owner = [], []
        k = len(self.prefix_ids)
        for i, e in enumerate(encs):
            if e.ids[1: 1 + k] != self.prefix_ids:
                raise RuntimeError(f"unexpected tokenization of the prefix in {texts[i][:40]!r}")
            content = e.ids[1 + k: -1]
            for c in _chunks(content, window, self.overlap):
                wins.append([self.bos] + self.prefix_ids + c + [self.eos])
                owner.append(i)
        return wins, owner

    supports_heads = True

    def _pool(self, x, m):
        """Mean-pooled encoder output (the head's input), as ``ToxicityClassifier.forward`` computes it."""
        h = self.model.encoder(input_ids=x, attention_mask=m).last_hidden_state
        mask = m.unsqueeze(-1).to(h.dtype)
        return (h * mask).sum(1) / mask.sum(1).clamp(min=1.0)

    def _head(self, pooled):
        return self.model.head(pooled)

    def head_state(self) -> dict[str, torch.Tensor]:
        """The model's own head (a site head starts from it)."""
        return {"weight": self.model.head.weight.detach().float().cpu().clone(),
                "bias": self.model.head.bias.detach().float().cpu().clone()}

    def _forward(self, x, m):
        return torch.sigmoid(self.model(x, m))


# ----------------------------------------------------------------------------- foreign models
LABEL_ALIASES = {
    "toxic": "toxicity", "toxicity": "toxicity", "toxique": "toxicity", "offensive": "toxicity",
    "hate": "toxicity", "hateful": "toxicity", "abusive": "toxicity", "label_1": "toxicity",
    "severe_toxic": "severe_toxicity", "severe_toxicity": "severe_toxicity",
    "obscene": "obscene", "threat": "threat", "insult": "insult",
    "identity_hate": "identity_attack", "identity_attack": "identity_attack",
}
NEGATIVE_NAMES = {"label_0", "non-toxic", "non_toxic", "not_toxic", "nontoxic", "neutral", "normal", "none",
                  "not-toxic", "clean", "ok", "non toxic", "neither", "not offensive", "not_offensive",
                  "non_toxique", "non-toxique"}


def map_label(name: str) -> str:
    n = str(name).strip().lower().replace(" ", "_")
    return LABEL_ALIASES.get(n, n)


class HFScorer(Scorer):
    """Any ``AutoModelForSequenceClassification`` model id or local path.

    Labels are lower-cased and mapped (``toxic``->``toxicity``, ``identity_hate``->``identity_attack``,
    ``LABEL_1`` of a binary model -> ``toxicity``). Multi-label models (``problem_type ==
    "multi_label_classification"``) use a sigmoid per label; others a softmax. For a single-label
    softmax model with a negative class (``LABEL_0``, ``non-toxic``, ``neutral``...), ``toxicity`` is
    ``1 - p(negative)`` when no class maps to it.
    """

    def __init__(self, name_or_path, device="cpu", quantize=None, threads=None):
        from transformers import AutoModelForSequenceClassification, AutoTokenizer

        _set_threads(threads)
        self.tokenizer = AutoTokenizer.from_pretrained(name_or_path)
        try:
            model = AutoModelForSequenceClassification.from_pretrained(name_or_path, attn_implementation="sdpa")
        except (ValueError, TypeError):
            model = AutoModelForSequenceClassification.from_pretrained(name_or_path)
        model.eval()
        if quantize == "int8":
            model = quantize_int8(model)
        self.model = model.to(device)
        self.device = device
        cfg = model.config
        n = cfg.num_labels
        raw = [cfg.id2label.get(i, f"LABEL_{i}") if cfg.id2label else f"LABEL_{i}" for i in range(n)]
        self.multi_label = cfg.problem_type == "multi_label_classification" or n == 1
        self.raw_labels = raw
        if n == 1:
            self.out_labels = ["toxicity"]
        elif n == 2 and not self.multi_label:
            lows = [r.lower() for r in raw]
            pos = 1
            if lows[1] in NEGATIVE_NAMES and lows[0] not in NEGATIVE_NAMES:
                pos = 0
            self.out_labels = ["toxicity"]
            self._binary_pos = pos
        else:
            self.out_labels = [map_label(r) for r in raw]
        self.labels = list(self.out_labels)
        self._neg = None
        if not self.multi_label and n > 2 and "toxicity" not in self.labels:
            negs = [i for i, r in enumerate(raw) if r.lower() in NEGATIVE_NAMES]
            if negs:
                self._neg = negs[0]
                self.labels = self.labels + ["toxicity"]
        self.name = str(name_or_path)
        self.version = str(getattr(cfg, "_commit_hash", None) or getattr(cfg, "transformers_version", "") or "")
        self.threshold = 0.5
        self.pad_id = self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else 0
        mx = getattr(self.tokenizer, "model_max_length", 512) or 512
        mp = getattr(cfg, "max_position_embeddings", 512) or 512
        self.max_length = int(min(mx if mx < 100000 else 512, mp, 512))
        self.overlap = 32

    def _windows(self, texts):
        enc = self.tokenizer(list(texts), add_special_tokens=False)["input_ids"]
        pre, post = self._special_wrap()
        window = max(8, self.max_length - len(pre) - len(post))
        wins, owner = [], []
        for i, ids in enumerate(enc):
            for c in _chunks(ids, window, self.overlap):
                wins.append(pre + list(c) + post)
                owner.append(i)
        return wins, owner

    def _special_wrap(self):
        """The special tokens the tokenizer puts before and after a single text (e.g. [CLS] / [SEP])."""
        if getattr(self, "_wrap", None) is None:
            probe = "hello world"
            inner = self.tokenizer(probe, add_special_tokens=False)["input_ids"]
            full = self.tokenizer(probe, add_special_tokens=True)["input_ids"]
            k = next((i for i in range(len(full) - len(inner) + 1) if full[i: i + len(inner)] == inner), None)
            self._wrap = ([], []) if k is None or not inner else (full[:k], full[k + len(inner):])
        return self._wrap

    def _forward(self, x, m):
        logits = self.model(input_ids=x, attention_mask=m).logits.float()
        if self.multi_label:
            p = torch.sigmoid(logits)
        else:
            p = torch.softmax(logits, -1)
            if hasattr(self, "_binary_pos"):
                return p[:, self._binary_pos: self._binary_pos + 1]
        if self._neg is not None:
            p = torch.cat([p, 1 - p[:, self._neg: self._neg + 1]], dim=1)
        return p
