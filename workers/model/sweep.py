"""Stage-2 experiment tooling for CPU budgets: cache the frozen bottom once ON DISK, then train and compare
many top-layer variants on the cache (``topfit.fit_top``), each reported with the figures the model card uses:
dev AUC (all French), forum AUC, the functional suite per functionality at the variant's own dev-chosen
threshold, and the minimum BPSN AUC over identity groups on the dev split.

The functional suite is **evaluation only**: its cached hidden states are used to *report* each variant's
accuracy, never to train or to choose anything automatically (selection rule: dev figures; the suite's
per-functionality table is printed for the model card's before/after table).

    python -m workers.model.sweep cache  --out var/sweep/part-base            # French + synthetic + suite
    python -m workers.model.sweep cache  --out var/sweep/part-contrast --files contrast_fr.csv
    python -m workers.model.sweep run    --parts var/sweep/part-* --variant C1 --json var/sweep/C1.json
    python -m workers.model.sweep run    ... --variant C1 --save var/sweep/C1-artifact   # shippable adapter

The cache holds the output of the embeddings + the bottom ``frozen`` layers of the stage-1 model (2026.11.1,
LoRA merged) in float16, one ``[tokens, 384]`` block per text (``.npy`` of all blocks + ``.json`` of texts and
offsets; no pickle).
"""
from __future__ import annotations

import argparse
import copy
import json
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch

from . import data as D
from .evaluation import bias_table, functional_table, read_functional
from .metrics import choose_threshold
from .topfit import (CONTRAST_FILE, SYNTHETIC_FILE, TopConfig, TopModel, artifact_tensors, fit_top,
                     load_stage2_examples, merged_stage1, predict_cached)
from .training_common import encode_texts, quick_dev_metrics, set_seed

STAGE1 = Path(__file__).resolve().parent / "stage1"  # 2026.11.1: the stage-1 LoRA model (see MODEL_CARD.md)

# Variants measured for MODEL_CARD.md ("Issue 9 experiments"). ``extra_files``: training CSVs of data/ with the
# Vigie label columns, added to the French files (synthetic_fr.csv = B1's templates, contrast_fr.csv = the
# minimal pairs of data/make_contrast_fr.py).
VARIANTS: dict[str, dict] = {
    "B1": {"extra_files": [SYNTHETIC_FILE], "top": {}},
    "C1": {"extra_files": [SYNTHETIC_FILE, CONTRAST_FILE], "top": {}},
    "C2": {"extra_files": [SYNTHETIC_FILE, CONTRAST_FILE], "top": {"epochs": 2, "average_last": 2}},
    "C3": {"extra_files": [SYNTHETIC_FILE, CONTRAST_FILE],
           "top": {"source_weights": {"mlma_fr.csv": 0.5}}},
    "C4": {"extra_files": [SYNTHETIC_FILE, CONTRAST_FILE],
           "top": {"source_weights": {"toxifrench_forum_500.csv": 2.0}}},
}


def load_rows(data_dir: str | Path, extra_files) -> list[D.Example]:
    ex = D.load_examples(data_dir, False)
    for name in extra_files:
        p = Path(data_dir) / name
        for r in D.read_csv_rows(p):
            ex.append(D.Example(r["text"], name, D.map_labels(name, r), "train"))
    return ex


# ----------------------------------------------------------------------------- the on-disk cache
def write_cache(texts: list[str], out: str | Path, frozen: int = 10, stage1_dir=STAGE1, cache_dir=None,
                log=print) -> None:
    from safetensors.torch import load_file as load_pt
    from tokenizers import Tokenizer

    from .base import build_base
    from .topfit import cache_hidden

    stage1_dir = Path(stage1_dir)
    conf = json.loads((stage1_dir / "config.json").read_text())
    base = build_base(cache_dir)
    tok = Tokenizer.from_file(str(base / "tokenizer.json"))
    enc, _ = merged_stage1(base, load_pt(str(stage1_dir / "adapter.safetensors")),
                           conf["lora"]["alpha"] / conf["lora"]["r"])
    texts = list(dict.fromkeys(texts))
    ids = encode_texts(tok, texts, 128)
    t0 = time.time()
    blocks = cache_hidden(enc, frozen, ids, log=log)
    offsets = np.cumsum([0] + [len(b) for b in blocks]).tolist()
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    np.save(str(out) + ".npy", np.concatenate(blocks).astype(np.float16))
    Path(str(out) + ".json").write_text(json.dumps({"texts": texts, "offsets": offsets, "frozen": frozen,
                                                    "stage1": str(stage1_dir)}))
    log(f"cached {len(texts)} texts ({offsets[-1]} tokens) in {time.time() - t0:.0f}s -> {out}")


def read_cache(parts) -> dict[str, np.ndarray]:
    out: dict[str, np.ndarray] = {}
    for p in parts:
        p = str(p).removesuffix(".npy").removesuffix(".json")
        meta = json.loads(Path(p + ".json").read_text())
        arr = np.load(p + ".npy", mmap_mode="r")
        off = meta["offsets"]
        for i, t in enumerate(meta["texts"]):
            out[t] = np.asarray(arr[off[i]: off[i + 1]])
    return out


# ----------------------------------------------------------------------------- one variant
def evaluate(model: TopModel, cache: list, dev: list[D.Example], dev_idx, suite_rows, suite_idx) -> dict:
    """Training-time figures of one model: dev AUCs, its dev-chosen threshold, the suite and BPSN at it."""
    y = D.labels_matrix(dev)
    src = [e.source for e in dev]
    p = predict_cached(model, cache, dev_idx)
    out = quick_dev_metrics(p, y, src)
    forum = np.array(src) == D.FORUM_FILE
    thr, _ = choose_threshold(y[forum, 0], p[forum, 0], y[:, 0], p[:, 0])
    bias = bias_table([e.text for e in dev], y[:, 0], p[:, 0], min_rows=5)
    bpsn = {g: round(v["bpsn_auc"], 4) for g, v in bias.items() if v["bpsn_auc"] is not None}
    out["bpsn"] = bpsn
    out["bpsn_min"] = min(bpsn.values()) if bpsn else None
    if suite_rows:
        s = predict_cached(model, cache, suite_idx)[:, 0]
        tab = functional_table(suite_rows, s, thr)
        out["suite_accuracy"] = round(tab["accuracy"], 4)
        out["suite_auc"] = round(tab["auc"], 4)
        out["suite"] = {f: d["correct"] for f, d in sorted(tab["functionalities"].items())}
        hate = [d["correct"] for d in tab["functionalities"].values() if d["label_gold"] == "hateful"]
        non = [d["correct"] for d in tab["functionalities"].values() if d["label_gold"] != "hateful"]
        out["suite_hateful_correct"] = sum(hate)
        out["suite_non_hateful_correct"] = sum(non)
    return out


def run_variant(name: str, parts, data_dir="data", frozen: int = 10, threads: int | None = 2, save=None,
                log=print, overrides: dict | None = None) -> dict:
    from safetensors.torch import load_file as load_pt
    from safetensors.torch import save_file

    from .base import build_base

    if threads:
        torch.set_num_threads(threads)
    spec = VARIANTS[name] if name != "baseline" else {"extra_files": [], "top": {}}
    cfg = TopConfig(frozen_layers=frozen, extra_files=list(spec["extra_files"]), mix=1.0,
                    **{**spec["top"], **(overrides or {})})
    store = read_cache(parts)
    examples = load_stage2_examples(data_dir, cfg)
    train = [e for e in examples if e.split == "train"]
    dev = [e for e in examples if e.split == "dev"]
    suite = read_functional()
    missing = [e.text for e in train + dev if e.text not in store] + [r["text"] for r in suite
                                                                     if r["text"] not in store]
    if missing:
        raise SystemExit(f"{len(missing)} texts not in the cache, e.g. {missing[:2]}")
    texts = [e.text for e in train + dev] + [r["text"] for r in suite]
    cache = [store[t] for t in texts]
    tr_idx = np.arange(len(train))
    dv_idx = np.arange(len(train), len(train) + len(dev))
    su_idx = np.arange(len(train) + len(dev), len(texts))
    stage1 = load_pt(str(STAGE1 / "adapter.safetensors"))
    conf = json.loads((STAGE1 / "config.json").read_text())
    enc, head = merged_stage1(build_base(), stage1, conf["lora"]["alpha"] / conf["lora"]["r"])
    set_seed(cfg.seed)
    model = TopModel(enc, [copy.deepcopy(enc.encoder.layer[i]) for i in range(frozen, 12)], head, cfg.dropout)
    log(f"variant {name}: {len(train)} train rows, {len(dev)} dev rows, {asdict(cfg)}")
    res = {"variant": name, "train_rows": len(train), "config": asdict(cfg)}
    if name == "baseline":
        res["dev"] = evaluate(model, cache, dev, dv_idx, suite, su_idx)
        return res

    def dev_eval(m):
        return evaluate(m, cache, dev, dv_idx, suite, su_idx)

    hist = fit_top(model, cache, tr_idx, D.labels_matrix(train), np.array(
        [float(cfg.source_weights.get(e.source, 1.0)) for e in train], dtype=np.float32), cfg, log=log,
        dev_eval=dev_eval)
    res["history"] = hist
    res["dev"] = hist.get("dev_averaged") or hist["dev"][-1]
    if save:
        out = Path(save)
        out.mkdir(parents=True, exist_ok=True)
        meta = {"format": "pt", "train_config": json.dumps(conf.get("train_config", {}), sort_keys=True),
                "stage2_config": json.dumps({**asdict(cfg), "variant": name}, sort_keys=True),
                "extra": json.dumps({"history": {k: v for k, v in hist.items() if k != "dev"},
                                     "train_rows": len(train)}, sort_keys=True)}
        tensors = artifact_tensors(stage1, model, frozen)
        save_file(dict(sorted(tensors.items())), str(out / "adapter.safetensors"), metadata=meta)
        log(f"saved {out / 'adapter.safetensors'}")
    return res


def interpolate(variant_dir, parts, alphas, data_dir="data", threads: int | None = 2, save_alpha=None,
                save=None, log=print) -> list[dict]:
    """Weight-space interpolation (WiSE-FT style checkpoint averaging) between the stage-1 model's top layers +
    head (alpha 0, = 2026.11.1) and a stage-2 variant's (alpha 1): each mix evaluated like a variant. With
    ``save``: write the ``save_alpha`` mix as an artifact (stage-1 LoRA of the frozen layers + mixed top)."""
    from safetensors import safe_open
    from safetensors.torch import load_file as load_pt
    from safetensors.torch import save_file

    from .base import build_base

    if threads:
        torch.set_num_threads(threads)
    variant_dir = Path(variant_dir)
    with safe_open(str(variant_dir / "adapter.safetensors"), "pt") as f:
        meta = f.metadata()
    tuned = load_pt(str(variant_dir / "adapter.safetensors"))
    vcfg = json.loads(meta["stage2_config"])
    frozen = vcfg["frozen_layers"]
    stage1 = load_pt(str(STAGE1 / "adapter.safetensors"))
    conf = json.loads((STAGE1 / "config.json").read_text())
    enc, head = merged_stage1(build_base(), stage1, conf["lora"]["alpha"] / conf["lora"]["r"])
    model = TopModel(enc, [copy.deepcopy(enc.encoder.layer[i]) for i in range(frozen, 12)], head, 0.0)
    start = {k: v.detach().clone() for k, v in model.state_dict().items()}

    def tuned_key(k):
        if k.startswith("layers."):
            i, rest = k[len("layers."):].split(".", 1)
            return f"encoder.encoder.layer.{frozen + int(i)}.{rest}"
        return k

    end = {k: tuned[tuned_key(k)].float() for k in start}
    store = read_cache(parts)
    cfg = TopConfig(frozen_layers=frozen, extra_files=[])
    examples = load_stage2_examples(data_dir, cfg)
    dev = [e for e in examples if e.split == "dev"]
    suite = read_functional()
    texts = [e.text for e in dev] + [r["text"] for r in suite]
    cache = [store[t] for t in texts]
    dv_idx, su_idx = np.arange(len(dev)), np.arange(len(dev), len(texts))
    out = []
    for a in alphas:
        model.load_state_dict({k: (1 - a) * start[k] + a * end[k] for k in start})
        res = {"variant": f"{vcfg.get('variant', variant_dir.name)} x{a:g}", "alpha": a,
               "train_rows": json.loads(meta.get("extra", "{}")).get("train_rows", 0),
               "dev": evaluate(model, cache, dev, dv_idx, suite, su_idx)}
        log(json.dumps(res, sort_keys=True))
        out.append(res)
        if save and a == save_alpha:
            Path(save).mkdir(parents=True, exist_ok=True)
            tensors = artifact_tensors(stage1, model, frozen)
            meta2 = dict(meta, stage2_config=json.dumps({**vcfg, "interpolation_alpha": a}, sort_keys=True))
            save_file(dict(sorted(tensors.items())), str(Path(save) / "adapter.safetensors"), metadata=meta2)
            log(f"saved {save}")
    return out


def markdown_tables(results: list[dict]) -> str:
    """Summary table (one row per variant) and the suite per functionality (one column per variant)."""
    lines = ["| variant | train rows | dev AUC | forum AUC | thr (dev) | suite acc | hateful ok | non-hateful ok "
             "| BPSN min |", "|---|---|---|---|---|---|---|---|---|"]
    for r in results:
        d = r["dev"]
        lines.append(f"| {r['variant']} | {r['train_rows']:,} | {d['auc_toxicity']:.4f} | {d['auc_forum']:.4f} "
                     f"| {d['threshold']:.2f} | {d['suite_accuracy']:.3f} | {d['suite_hateful_correct']}/180 "
                     f"| {d['suite_non_hateful_correct']}/168 | {d['bpsn_min']:.3f} |")
    funcs = sorted(results[0]["dev"]["suite"])
    lines += ["", "| functionality | " + " | ".join(r["variant"] for r in results) + " |",
              "|---|" + "---|" * len(results)]
    for f in funcs:
        lines.append(f"| {f} | " + " | ".join(f"{r['dev']['suite'][f]}/12" for r in results) + " |")
    return "\n".join(lines)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(prog="python -m workers.model.sweep")
    sub = ap.add_subparsers(dest="cmd", required=True)
    c = sub.add_parser("cache")
    c.add_argument("--out", required=True)
    c.add_argument("--data-dir", default="data")
    c.add_argument("--files", nargs="*", default=None,
                   help="only these extra CSVs of data/ (default: French files + synthetic + functional suite)")
    c.add_argument("--frozen", type=int, default=10)
    c.add_argument("--threads", type=int, default=2)
    r = sub.add_parser("run")
    r.add_argument("--parts", nargs="+", required=True)
    r.add_argument("--variant", required=True, choices=["baseline", *VARIANTS])
    r.add_argument("--data-dir", default="data")
    r.add_argument("--frozen", type=int, default=10)
    r.add_argument("--threads", type=int, default=2)
    r.add_argument("--json")
    r.add_argument("--save")
    i = sub.add_parser("interpolate", help="mix the stage-1 top layers with a variant's (checkpoint averaging)")
    i.add_argument("variant_dir")
    i.add_argument("--parts", nargs="+", required=True)
    i.add_argument("--alphas", nargs="+", type=float, default=[0.25, 0.5, 0.75])
    i.add_argument("--threads", type=int, default=2)
    i.add_argument("--json")
    i.add_argument("--save")
    i.add_argument("--save-alpha", type=float)
    t = sub.add_parser("table", help="markdown tables of saved variant results (for MODEL_CARD.md)")
    t.add_argument("results", nargs="+")
    a = ap.parse_args(argv)
    if a.cmd == "table":
        print(markdown_tables([json.loads(Path(p).read_text()) for p in a.results]))
        return
    torch.set_num_threads(a.threads)
    if a.cmd == "interpolate":
        res = interpolate(a.variant_dir, a.parts, a.alphas, threads=a.threads, save_alpha=a.save_alpha,
                          save=a.save)
        if a.json:
            Path(a.json).write_text(json.dumps(res, indent=1, sort_keys=True, default=float) + "\n")
        return
    if a.cmd == "cache":
        if a.files:
            texts = [r["text"] for f in a.files for r in D.read_csv_rows(Path(a.data_dir) / f)]
        else:
            texts = [e.text for e in load_rows(a.data_dir, [SYNTHETIC_FILE])]
            texts += [r["text"] for r in read_functional()]
        write_cache(texts, a.out, a.frozen)
    else:
        res = run_variant(a.variant, a.parts, a.data_dir, a.frozen, a.threads, a.save)
        print(json.dumps(res["dev"], sort_keys=True))
        if a.json:
            Path(a.json).parent.mkdir(parents=True, exist_ok=True)
            Path(a.json).write_text(json.dumps(res, indent=1, sort_keys=True, default=float) + "\n")


if __name__ == "__main__":
    main()
