"""Stage 2 of the default recipe: full fine-tuning of the top encoder layers on cached hidden states.

Stage 1 (``train.fit``) trains LoRA adapters on all 12 layers + the head. Stage 2 merges them, freezes the
embeddings and the bottom ``frozen_layers`` layers, computes their output **once per text** (the cache),
and trains the remaining top layers (all their weights) + the head on a wider data mix (more languages,
synthetic identity templates, per-source weights, label smoothing), averaging the weights of the last
epochs (checkpoint averaging). Because the bottom is frozen, each training step only runs the top layers:
on 2 CPU cores an epoch costs a fraction of a stage-1 epoch, so many variants are affordable.

The shipped artifact holds the stage-1 LoRA factors of the frozen layers (merged at load) and the full
weights of the top layers (float16) + the head (float32): inference has exactly the base encoder's cost.
"""
from __future__ import annotations

import copy
import json
import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import nn

from . import data as D
from .network import apply_adapter
from .train import TrainConfig, finalize, train_main, write_config
from .training_common import PREFIX, encode_texts, make_batches, quick_dev_metrics, set_seed

SYNTHETIC_FILE = "synthetic_fr.csv"
CONTRAST_FILE = "contrast_fr.csv"  # data/make_contrast_fr.py


@dataclass
class TopConfig:
    frozen_layers: int = 10
    epochs: int = 1
    batch_size: int = 16
    lr: float = 1e-4
    head_lr: float = 1e-3
    weight_decay: float = 0.01
    warmup: float = 0.06
    max_len: int = 128
    label_smoothing: float = 0.0
    dropout: float = 0.1
    seed: int = 13
    label_weights: list = field(default_factory=lambda: [1.0, 0.5, 0.5, 0.5, 0.5, 0.5])
    # rows per multilingual file (by text hash; see data.load_examples); {} = French + synthetic only, the best
    # variant measured (B1 in MODEL_CARD.md). The wider sample tried (variant A1) was:
    # {"toxic_spans_en.csv": 800, "davidson_en.csv": 500, "germeval2018_de.csv": 800, "gahd_de.csv": 800,
    #  "convabuse_en.csv": 500, "ro_offense_ro.csv": 1500, "toldbr_pt.csv": 1500, "reddit_br_toxicity_pt.csv": 500}
    multilingual: dict = field(default_factory=dict)
    # loss weight per source file (default 1.0)
    source_weights: dict = field(default_factory=dict)
    synthetic: bool = True  # add ``extra_files`` (synthetic training CSVs of data/, Vigie label columns)
    extra_files: list = field(default_factory=lambda: [SYNTHETIC_FILE, CONTRAST_FILE])
    average_last: int = 1  # average the weights at the end of the last N epochs (1 = no averaging)
    # weight-space interpolation with the stage-1 top layers + head (WiSE-FT-style checkpoint averaging):
    # final = (1 - mix) * stage 1 + mix * stage 2; 1.0 = stage 2 as trained. 2026.12.1 ships 0.2 (MODEL_CARD.md)
    mix: float = 0.2


def layer_masks(enc, h, m):
    from transformers.masking_utils import create_bidirectional_mask

    return create_bidirectional_mask(config=enc.config, inputs_embeds=h, attention_mask=m)


class TopModel(nn.Module):
    """Top encoder layers + mean pooling + head, fed with the cached output of the frozen layers."""

    def __init__(self, enc, layers, head: nn.Linear, dropout: float):
        super().__init__()
        self.enc_config = enc.config
        self._enc = [enc]  # not a submodule (frozen, not saved)
        self.layers = nn.ModuleList(layers)
        self.head = head
        self.dropout = nn.Dropout(dropout)

    def forward(self, h, m):
        mask = layer_masks(self._enc[0], h, m)
        for layer in self.layers:
            out = layer(h, mask)
            h = out[0] if isinstance(out, tuple) else out
        mf = m.unsqueeze(-1).to(h.dtype)
        pooled = (h * mf).sum(1) / mf.sum(1).clamp(min=1.0)
        return self.head(self.dropout(pooled))


@torch.inference_mode()
def cache_hidden(enc, frozen: int, ids_list, batch_size=64, log=print) -> list[np.ndarray]:
    """Output of the embeddings + the bottom ``frozen`` layers, one float16 [len, hidden] array per text."""
    enc.eval()
    full = enc.encoder.layer
    enc.encoder.layer = nn.ModuleList(list(full)[:frozen])
    out: list = [None] * len(ids_list)
    t0 = time.time()
    try:
        batches = make_batches([len(i) for i in ids_list], batch_size, None)
        for k, b in enumerate(batches):
            L = max(len(ids_list[i]) for i in b)
            x = torch.full((len(b), L), 1, dtype=torch.long)
            m = torch.zeros((len(b), L), dtype=torch.long)
            for r, i in enumerate(b):
                x[r, : len(ids_list[i])] = torch.tensor(ids_list[i])
                m[r, : len(ids_list[i])] = 1
            h = enc(input_ids=x, attention_mask=m).last_hidden_state.to(torch.float16).numpy()
            for r, i in enumerate(b):
                out[i] = h[r, : len(ids_list[i])].copy()
            if k % 50 == 0:
                log(f"  cache {k}/{len(batches)} batches, {time.time() - t0:.0f}s")
    finally:
        enc.encoder.layer = full
    return out


def collate_hidden(cache, batch):
    L = max(len(cache[i]) for i in batch)
    H = cache[batch[0]].shape[1]
    x = torch.zeros((len(batch), L, H), dtype=torch.float32)
    m = torch.zeros((len(batch), L), dtype=torch.long)
    for r, i in enumerate(batch):
        n = len(cache[i])
        x[r, :n] = torch.from_numpy(cache[i].astype(np.float32))
        m[r, :n] = 1
    return x, m


@torch.inference_mode()
def predict_cached(model: TopModel, cache, idx, batch_size=64) -> np.ndarray:
    model.eval()
    out = np.zeros((len(idx), model.head.out_features), dtype=np.float32)
    idx = np.asarray(idx)
    for b in make_batches([len(cache[i]) for i in idx], batch_size, None):
        x, m = collate_hidden(cache, idx[b])
        out[b] = torch.sigmoid(model(x, m)).numpy()
    return out


def fit_top(model: TopModel, cache, idx, y: np.ndarray, w: np.ndarray, cfg: TopConfig, log=print,
            dev_eval=None) -> dict:
    """Train the top layers + head in place on cached hidden states. ``y`` [n, labels] (NaN = unknown),
    ``w`` per-row loss weights."""
    set_seed(cfg.seed)
    rng = np.random.default_rng(cfg.seed)
    idx = np.asarray(idx)
    lengths = [len(cache[i]) for i in idx]
    steps = math.ceil(len(idx) / cfg.batch_size) * cfg.epochs
    head_p = list(model.head.parameters())
    layer_p = [p for p in model.layers.parameters()]
    opt = torch.optim.AdamW([{"params": layer_p, "lr": cfg.lr}, {"params": head_p, "lr": cfg.head_lr}],
                            weight_decay=cfg.weight_decay)
    warm = max(1, int(steps * cfg.warmup))
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: (s + 1) / warm if s < warm else max(0.0, (steps - s) / max(1, steps - warm)))
    Y = torch.tensor(np.nan_to_num(y, nan=0.0), dtype=torch.float32)
    M = torch.tensor(~np.isnan(y), dtype=torch.float32)
    W = torch.tensor(w, dtype=torch.float32)
    lw = torch.tensor(cfg.label_weights[: y.shape[1]], dtype=torch.float32)
    ls = cfg.label_smoothing
    bce = nn.BCEWithLogitsLoss(reduction="none")
    hist = {"loss": [], "dev": [], "steps": steps}
    snaps = []
    t0 = time.time()
    step = 0
    for epoch in range(cfg.epochs):
        model.train()
        run = 0.0
        for k, b in enumerate(make_batches(lengths, cfg.batch_size, rng)):
            x, m = collate_hidden(cache, idx[b])
            yt = Y[b] * (1 - ls) + 0.5 * ls
            wt = M[b] * lw * W[b].unsqueeze(1)
            loss = (bce(model(x, m), yt) * wt).sum() / (M[b] * lw).sum().clamp(min=1.0)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            sched.step()
            step += 1
            run = 0.98 * run + 0.02 * loss.item() if k else loss.item()
            if k % 50 == 0:
                log(f"  epoch {epoch + 1} step {k} loss {run:.4f} {time.time() - t0:.0f}s")
        hist["loss"].append(run)
        if epoch >= cfg.epochs - max(1, cfg.average_last):
            snaps.append({n: p.detach().clone() for n, p in model.state_dict().items()})
        el = time.time() - t0
        log(f"epoch {epoch + 1}: loss {run:.4f}, {el:.0f}s, {el / step:.3f}s/step")
        if dev_eval is not None:
            hist["dev"].append(dev_eval(model))
            log(f"  dev: {json.dumps(hist['dev'][-1])}")
    if len(snaps) > 1:
        avg = {n: sum(s[n] for s in snaps) / len(snaps) if snaps[0][n].is_floating_point() else snaps[-1][n]
               for n in snaps[0]}
        model.load_state_dict(avg)
        if dev_eval is not None:
            hist["dev_averaged"] = dev_eval(model)
            log(f"  dev (averaged last {len(snaps)}): {json.dumps(hist['dev_averaged'])}")
    hist["seconds"] = time.time() - t0
    hist["step_seconds"] = hist["seconds"] / max(1, step)
    model.eval()
    return hist


# ----------------------------------------------------------------------------- building blocks
def merged_stage1(base_dir: Path, adapter: dict, lora_scale: float):
    """The base encoder with stage-1 LoRA factors merged, and the stage-1 head."""
    from safetensors.numpy import load_file

    from .network import make_encoder

    enc = make_encoder(json.loads((base_dir / "config.json").read_text()),
                       load_file(str(base_dir / "model.safetensors")))
    apply_adapter(enc, adapter, lora_scale)
    head = nn.Linear(enc.config.hidden_size, adapter["head.weight"].shape[0])
    with torch.no_grad():
        head.weight.copy_(adapter["head.weight"])
        head.bias.copy_(adapter["head.bias"])
    return enc, head


def artifact_tensors(stage1: dict, model: TopModel, frozen: int) -> dict:
    """What the shipped adapter holds: stage-1 LoRA of the frozen layers, top layers (float16), head."""
    out = {}
    for k, v in stage1.items():
        if ".lora_" in k:
            layer = int(k.split("encoder.layer.")[1].split(".")[0])
            if layer < frozen:
                out[k] = v.float().contiguous()
    for n, p in model.layers.named_parameters():
        i, rest = n.split(".", 1)
        out[f"encoder.encoder.layer.{frozen + int(i)}.{rest}"] = p.detach().to(torch.float16).contiguous()
    out["head.weight"] = model.head.weight.detach().float().contiguous()
    out["head.bias"] = model.head.bias.detach().float().contiguous()
    return out


def load_stage2_examples(data_dir, cfg: TopConfig):
    examples = D.load_examples(data_dir, cfg.multilingual or False)
    for name in cfg.extra_files if cfg.synthetic else []:
        p = Path(data_dir) / name
        if p.is_file():
            for r in D.read_csv_rows(p):
                examples.append(D.Example(r["text"], name, D.map_labels(name, r), "train"))
    return examples


def row_weights(examples, cfg: TopConfig) -> np.ndarray:
    return np.array([float(cfg.source_weights.get(e.source, 1.0)) for e in examples], dtype=np.float32)


def train_stage2(stage1_dir, data_dir="data", out_dir=None, cfg: TopConfig | None = None, cache_dir=None,
                 threads=None, log=print, dev_eval_fn=None) -> dict:
    """Stage 2 end to end from a stage-1 artifact folder (``adapter.safetensors`` + ``config.json``)."""
    from safetensors.torch import load_file as load_pt
    from safetensors.torch import save_file
    from tokenizers import Tokenizer

    from .base import build_base

    cfg = cfg or TopConfig()
    if threads:
        torch.set_num_threads(threads)
    stage1_dir = Path(stage1_dir)
    conf = json.loads((stage1_dir / "config.json").read_text())
    stage1 = load_pt(str(stage1_dir / "adapter.safetensors"))
    base = build_base(cache_dir)
    tok = Tokenizer.from_file(str(base / "tokenizer.json"))
    enc, head = merged_stage1(base, stage1, conf["lora"]["alpha"] / conf["lora"]["r"])
    examples = load_stage2_examples(data_dir, cfg)
    train = [e for e in examples if e.split == "train"]
    dev = [e for e in examples if e.split == "dev"]
    log(f"stage 2: {len(train)} train rows, {len(dev)} dev rows, top {12 - cfg.frozen_layers} layers")
    ids = encode_texts(tok, [e.text for e in train + dev], cfg.max_len)
    t0 = time.time()
    cache = cache_hidden(enc, cfg.frozen_layers, ids, log=log)
    log(f"cached {len(cache)} texts in {time.time() - t0:.0f}s")
    set_seed(cfg.seed)
    model = TopModel(enc, [copy.deepcopy(enc.encoder.layer[i]) for i in range(cfg.frozen_layers, 12)], head,
                     cfg.dropout)
    tr_idx = np.arange(len(train))
    dv_idx = np.arange(len(train), len(train) + len(dev))
    y_dev = D.labels_matrix(dev)
    src_dev = [e.source for e in dev]

    def dev_eval(m):
        return quick_dev_metrics(predict_cached(m, cache, dv_idx), y_dev, src_dev)

    start = {k: v.detach().clone() for k, v in model.state_dict().items()}
    hist = fit_top(model, cache, tr_idx, D.labels_matrix(train), row_weights(train, cfg), cfg, log=log,
                   dev_eval=dev_eval_fn or dev_eval)
    if cfg.mix < 1.0:
        trained = model.state_dict()
        model.load_state_dict({k: (1 - cfg.mix) * start[k] + cfg.mix * trained[k] if start[k].is_floating_point()
                               else trained[k] for k in start})
        hist["dev_mixed"] = (dev_eval_fn or dev_eval)(model)
        log(f"  dev (mix {cfg.mix} with stage 1): {json.dumps(hist['dev_mixed'])}")
    hist["cache_seconds"] = time.time() - t0 - hist["seconds"]
    if out_dir:
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        tensors = artifact_tensors(stage1, model, cfg.frozen_layers)
        meta = {"format": "pt", "train_config": json.dumps(json.loads(
            json.dumps(conf.get("train_config", {}))), sort_keys=True),
                "stage2_config": json.dumps(asdict(cfg), sort_keys=True),
                "extra": json.dumps({"history": hist, "train_rows": len(train)}, sort_keys=True)}
        save_file(dict(sorted(tensors.items())), str(out / "adapter.safetensors"), metadata=meta)
    return {"history": hist, "train_rows": len(train), "model": model}


def train_two_stage(data_dir, out_dir, cfg, stage2: "TopConfig", device="cpu", cache_dir=None, threads=None,
                    write_dev: str | None = None, log=print, finalize_artifact: bool = True,
                    stage1_dir: str | None = None) -> dict:
    """``vigie train --stage2``: stage 1 (``train.train_main``: LoRA on all layers + head), then stage 2: full
    fine-tuning of the top layers on cached hidden states of the frozen bottom. ``stage1_dir``: reuse a stage-1
    artifact instead of training it."""
    import tempfile

    with tempfile.TemporaryDirectory(prefix="vigie-stage1-") as tmp:
        if stage1_dir is None:
            log("== stage 1: LoRA on all layers + head")
            train_main(data_dir, tmp, cfg, device, cache_dir, threads, write_dev, log, finalize_artifact=False)
            write_config(tmp, asdict(cfg or TrainConfig()), threshold=0.5)
            stage1_dir = tmp
        elif write_dev:
            n = D.write_dev_csv(D.load_examples(data_dir, False), write_dev)
            log(f"wrote {n} dev rows to {write_dev}")
        log(f"== stage 2: top {12 - stage2.frozen_layers} layers on cached hidden states (from {stage1_dir})")
        res = train_stage2(stage1_dir, data_dir, out_dir, stage2, cache_dir=cache_dir, threads=threads, log=log)
    info = {"history": res["history"], "train_rows": res["train_rows"], "device": "cpu"}
    if finalize_artifact:
        return finalize(out_dir, data_dir, cache_dir=cache_dir, log=log, train_info=info)
    return info
