"""Fine-tuning of the default model (``vigie train``).

Recipe (see MODEL_CARD.md for the figures that chose it): LoRA adapters (rank 16) on every
linear layer of the 12 encoder layers (query, key, value, attention output, FFN in and out),
a linear head over the mean-pooled encoder output with one sigmoid output per label, masked
binary cross-entropy (a row without a label does not train that head), AdamW, linear warmup
and decay, length-bucketed batches (little padding), fixed seeds. The word-embedding matrix
and every base weight stay frozen, so what training produces is small: the LoRA factors and
the head (``adapter.safetensors``), plus ``config.json``.

The same ``fit`` runs on CPU and CUDA (``--device``), on the same data, split and seeds.
"""
from __future__ import annotations

import json
import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import nn

from . import data as D
from .network import ToxicityClassifier, add_lora, make_encoder
from .training_common import PREFIX, encode_texts, make_batches, quick_dev_metrics, set_seed  # noqa: F401 (re-exported)


@dataclass
class TrainConfig:
    epochs: int = 2
    batch_size: int = 16
    lr: float = 1e-3
    head_lr: float = 2e-3
    weight_decay: float = 0.01
    warmup: float = 0.06
    max_len: int = 128
    lora_r: int = 16
    lora_alpha: float = 32.0
    lora_dropout: float = 0.1
    head_dropout: float = 0.1
    seed: int = 13
    label_weights: list = field(default_factory=lambda: [1.0, 0.5, 0.5, 0.5, 0.5, 0.5])
    # rows per multilingual file used for training (by text hash); {} = French only
    multilingual: dict = field(default_factory=lambda: {
        "toxic_spans_en.csv": 1500, "davidson_en.csv": 1000, "germeval2018_de.csv": 1500,
        "gahd_de.csv": 1500, "convabuse_en.csv": 1000})
    french_repeat: int = 1  # French training rows are seen this many times per epoch
    forum_repeat: int = 1  # forum training rows (closest to the product's domain) this many times
    max_rows: int | None = None
    forum_weight: float = 0.7


def collate(ids_list, batch, pad_id: int, device):
    L = max(len(ids_list[i]) for i in batch)
    x = torch.full((len(batch), L), pad_id, dtype=torch.long)
    m = torch.zeros((len(batch), L), dtype=torch.long)
    for r, i in enumerate(batch):
        ids = ids_list[i]
        x[r, : len(ids)] = torch.tensor(ids)
        m[r, : len(ids)] = 1
    return x.to(device), m.to(device)


def build_classifier(encoder, cfg: TrainConfig, n_labels: int) -> ToxicityClassifier:
    for p in encoder.parameters():
        p.requires_grad_(False)
    add_lora(encoder, cfg.lora_r, cfg.lora_alpha, cfg.lora_dropout)
    model = ToxicityClassifier(encoder, n_labels, cfg.head_dropout)
    return model


def fit(model: ToxicityClassifier, ids_list, y: np.ndarray, cfg: TrainConfig, device: str = "cpu",
        pad_id: int = 1, log=print, progress: bool = True, dev_eval=None) -> dict:
    """Train in place. ``y`` is [n, n_labels] with NaN for unknown labels."""
    from tqdm.auto import tqdm

    set_seed(cfg.seed)
    model.to(device)
    rng = np.random.default_rng(cfg.seed)
    lengths = [len(i) for i in ids_list]
    steps_per_epoch = math.ceil(len(ids_list) / cfg.batch_size)
    total = steps_per_epoch * cfg.epochs
    lora_params = [p for n, p in model.named_parameters() if p.requires_grad and "lora_" in n]
    head_params = [p for n, p in model.named_parameters() if p.requires_grad and "lora_" not in n]
    opt = torch.optim.AdamW([
        {"params": lora_params, "lr": cfg.lr},
        {"params": head_params, "lr": cfg.head_lr},
    ], weight_decay=cfg.weight_decay)
    warm = max(1, int(total * cfg.warmup))
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: (s + 1) / warm if s < warm else max(0.0, (total - s) / max(1, total - warm)))
    Y = torch.tensor(np.nan_to_num(y, nan=0.0), dtype=torch.float32)
    M = torch.tensor(~np.isnan(y), dtype=torch.float32)
    lw = torch.tensor(cfg.label_weights[: y.shape[1]], dtype=torch.float32, device=device)
    bce = nn.BCEWithLogitsLoss(reduction="none")
    hist = {"loss": [], "step_seconds": None, "steps": total, "dev": []}
    step = 0
    t0 = time.time()
    for epoch in range(cfg.epochs):
        model.train()
        batches = make_batches(lengths, cfg.batch_size, rng)
        bar = tqdm(batches, desc=f"epoch {epoch + 1}/{cfg.epochs}", disable=not progress, mininterval=2)
        run = 0.0
        for k, b in enumerate(bar):
            x, m = collate(ids_list, b, pad_id, device)
            yt, mt = Y[b].to(device), M[b].to(device)
            logits = model(x, m)
            loss_el = bce(logits, yt) * mt * lw
            loss = loss_el.sum() / (mt * lw).sum().clamp(min=1.0)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_([p for p in model.parameters() if p.requires_grad], 1.0)
            opt.step()
            sched.step()
            step += 1
            run = 0.98 * run + 0.02 * loss.item() if k else loss.item()
            if k % 20 == 0:
                bar.set_postfix(loss=f"{run:.4f}")
        hist["loss"].append(run)
        el = time.time() - t0
        log(f"epoch {epoch + 1}: loss {run:.4f}, {el:.0f}s elapsed, {el / step:.3f}s/step")
        if dev_eval is not None:
            hist["dev"].append(dev_eval(model))
            log(f"  dev: {json.dumps(hist['dev'][-1])}")
    hist["step_seconds"] = (time.time() - t0) / max(1, step)
    hist["seconds"] = time.time() - t0
    model.eval()
    return hist


@torch.inference_mode()
def predict_ids(model, ids_list, device="cpu", batch_size=64, pad_id=1) -> np.ndarray:
    model.eval()
    out = np.zeros((len(ids_list), model.head.out_features), dtype=np.float32)
    for b in make_batches([len(i) for i in ids_list], batch_size, None):
        x, m = collate(ids_list, b, pad_id, device)
        out[b] = torch.sigmoid(model(x, m)).float().cpu().numpy()
    return out


def save_adapter(model: ToxicityClassifier, cfg: TrainConfig, out_dir: str | Path, extra: dict | None = None) -> Path:
    from safetensors.torch import save_file

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    sd = model.trainable_state()
    meta = {"format": "pt", "train_config": json.dumps(asdict(cfg), sort_keys=True)}
    if extra:
        meta["extra"] = json.dumps(extra, sort_keys=True)
    save_file(dict(sorted(sd.items())), str(out_dir / "adapter.safetensors"), metadata=meta)
    return out_dir / "adapter.safetensors"


def training_set(examples, cfg: TrainConfig):
    train = [e for e in examples if e.split == "train"]
    fr = [e for e in train if e.source in D.FRENCH_FILES]
    other = [e for e in train if e.source not in D.FRENCH_FILES]
    forum = [e for e in fr if e.source == D.FORUM_FILE] * max(0, cfg.forum_repeat - 1)
    return fr * max(1, cfg.french_repeat) + forum + other


def train_main(data_dir="data", out_dir="workers/model/default", cfg: TrainConfig | None = None,
               device="cpu", cache_dir=None, threads=None, write_dev: str | None = None, log=print,
               finalize_artifact: bool = True) -> dict:
    """``vigie train``: data -> fine-tuned model in ``out_dir`` (+ threshold and card figures): LoRA on all
    layers + head. The opt-in second stage lives in ``topfit.train_two_stage``."""
    from safetensors.numpy import load_file
    from tokenizers import Tokenizer

    from .base import build_base

    cfg = cfg or TrainConfig()
    if threads:
        torch.set_num_threads(threads)
    examples = D.load_examples(data_dir, cfg.multilingual or False, cfg.max_rows)
    if write_dev:
        n = D.write_dev_csv(examples, write_dev)
        log(f"wrote {n} dev rows to {write_dev}")
    base = build_base(cache_dir)
    tok = Tokenizer.from_file(str(base / "tokenizer.json"))
    train = training_set(examples, cfg)
    dev = [e for e in examples if e.split == "dev"]
    log(f"train rows {len(train)}, French dev rows {len(dev)}")
    tr_ids = encode_texts(tok, [e.text for e in train], cfg.max_len)
    dv_ids = encode_texts(tok, [e.text for e in dev], cfg.max_len)
    enc = make_encoder(json.loads((base / "config.json").read_text()), load_file(str(base / "model.safetensors")))
    set_seed(cfg.seed)
    model = build_classifier(enc, cfg, len(D.LABELS))
    y_dev = D.labels_matrix(dev)
    src_dev = [e.source for e in dev]

    def dev_eval(m):
        return quick_dev_metrics(predict_ids(m, dv_ids, device), y_dev, src_dev)

    hist = fit(model, tr_ids, D.labels_matrix(train), cfg, device, log=log, dev_eval=dev_eval)
    model.to("cpu")
    extra = {"history": hist, "train_rows": len(train), "device": device}
    save_adapter(model, cfg, out_dir, extra)
    log(f"saved adapter to {out_dir} ({hist['step_seconds']:.3f}s/step, {hist['seconds'] / 60:.1f} min)")
    if finalize_artifact:
        return finalize(out_dir, data_dir, cache_dir=cache_dir, log=log, train_info=extra)
    return extra


# ----------------------------------------------------------------------------- finalize
def finalize(out_dir="workers/model/default", data_dir="data", cache_dir=None, log=print, train_info=None,
             forum_weight: float = 0.7) -> dict:
    """Score the French dev split with the inference path (CPU, chunked), choose the threshold on it,
    write ``config.json`` and ``metrics.json`` next to ``adapter.safetensors``."""
    from safetensors import safe_open

    from . import load
    from .metrics import binary_metrics, choose_threshold

    out_dir = Path(out_dir)
    with safe_open(str(out_dir / "adapter.safetensors"), "pt") as f:
        meta = f.metadata()
    tcfg = json.loads(meta["train_config"])
    extra = json.loads(meta.get("extra", "{}"))
    if "stage2_config" in meta:
        tcfg = dict(tcfg, stage2=json.loads(meta["stage2_config"]))
    write_config(out_dir, tcfg, threshold=0.5)
    scorer = load(str(out_dir), cache_dir=cache_dir)
    examples = D.load_examples(data_dir, False)
    dev = [e for e in examples if e.split == "dev"]
    y = D.labels_matrix(dev)
    preds = scorer.predict([e.text for e in dev])
    P = np.array([[p[lab] for lab in D.LABELS] for p in preds])
    src = np.array([e.source for e in dev])
    forum = src == D.FORUM_FILE
    thr, info = choose_threshold(y[forum, 0], P[forum, 0], y[:, 0], P[:, 0], forum_weight)
    write_config(out_dir, tcfg, threshold=thr, threshold_info=info)
    metrics = {"threshold": thr, "threshold_choice": info, "labels": {}, "toxicity_by_source": {}}
    for j, lab in enumerate(D.LABELS):
        if (~np.isnan(y[:, j])).sum():
            metrics["labels"][lab] = binary_metrics(y[:, j], P[:, j], thr if lab == "toxicity" else 0.5)
    for s in sorted(set(src)):
        k = src == s
        metrics["toxicity_by_source"][s] = binary_metrics(y[k, 0], P[k, 0], thr)
    metrics["training"] = {k: v for k, v in (train_info or extra).items() if k != "history"}
    if "history" in (train_info or extra):
        h = (train_info or extra)["history"]
        metrics["training"].update(step_seconds=h.get("step_seconds"), steps=h.get("steps"),
                                   seconds=h.get("seconds"))
    (out_dir / "metrics.json").write_text(json.dumps(metrics, indent=2, sort_keys=True) + "\n")
    log(f"threshold {thr} ({info}); dev toxicity {json.dumps(metrics['labels']['toxicity'])}")
    return metrics


def write_config(out_dir, tcfg: dict, threshold: float, threshold_info: dict | None = None) -> None:
    from . import DEFAULT_NAME, MODEL_VERSION
    from .base import BASE_NAME, Q4_SHA256

    conf = {
        "name": DEFAULT_NAME,
        "version": MODEL_VERSION,
        "base": {"name": BASE_NAME, "source_sha256": Q4_SHA256},
        "labels": D.LABELS,
        "threshold": threshold,
        "threshold_choice": threshold_info or {},
        "prefix": PREFIX,
        "pooling": "mean",
        "max_length": 128,
        "chunk_overlap": 32,
        "lora": {"r": tcfg["lora_r"], "alpha": tcfg["lora_alpha"]},
        "train_config": tcfg,
    }
    Path(out_dir, "config.json").write_text(json.dumps(conf, indent=2, sort_keys=True) + "\n")


if __name__ == "__main__":  # python -m workers.model.train finalize OUT_DIR
    import sys

    if sys.argv[1] == "finalize":
        finalize(sys.argv[2])
