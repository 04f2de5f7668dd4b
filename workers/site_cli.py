"""``vigie eval --site`` and ``vigie train --site`` (options of the model commands in ``workers/cli.py``)."""
from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path

import click
from sqlalchemy import select

from core import feedback, services
from core.settings import Settings
from core.storage.models import Site


def _services() -> services.Services:
    settings = Settings()
    settings.ensure_data_dir()
    return services.build(settings)


def _utc(moment: datetime | None) -> datetime | None:
    return moment.replace(tzinfo=timezone.utc) if moment is not None and moment.tzinfo is None else moment


def _site_id(svc: services.Services, slug: str) -> int:
    with svc.db.sessionmaker() as session:
        site_id = session.scalar(select(Site.id).where(Site.slug == slug))
    if site_id is None:
        raise click.UsageError(f"no site with slug {slug!r}")
    return site_id


def eval_site(slug: str, since: datetime | None, until: datetime | None, json_out: str | None) -> None:
    svc = _services()
    site_id = _site_id(svc, slug)
    with svc.db.sessionmaker() as session:
        figures = feedback.evaluate_site(session, session.get(Site, site_id), _utc(since), _utc(until))
    click.echo(feedback.format_report(figures))
    if json_out:
        Path(json_out).write_text(json.dumps(figures, indent=2, sort_keys=True) + "\n", encoding="utf-8")


def train_site_command(slug: str, data_dir: str, holdout: float, base_rows: int, steps: int | None,
                       threads: int | None) -> None:
    from workers import runtime
    from workers.site_training import NotEnoughLabels, train_site

    svc = _services()
    site_id = _site_id(svc, slug)
    if threads:
        import torch

        torch.set_num_threads(threads)
    scorer = runtime.get_scorer(svc.settings)  # loads the model (the one already loaded in this process, if any)
    try:
        model = train_site(svc, site_id, "", holdout=holdout, base_rows=base_rows, steps=steps,
                           data_dir=Path(data_dir), scorer=scorer,
                           progress=lambda f, message: click.echo(f"{100 * f:5.1f}% {message}", err=True))
    except NotEnoughLabels as exc:
        raise click.ClickException(str(exc))
    m = model.metrics
    click.echo(f"candidate {model.name} {model.version} (id {model.id}), threshold {model.threshold:.2f}; "
               f"trained on {m['trained_on']} decisions + {m['base_rows']} base rows in {m['train_seconds']} s; "
               f"held back: the newest {m['held_back']} decisions")
    click.echo(f"{'model':<34} {'ROC AUC':>8} {'F1':>6} {'thr':>5} {'flag rate':>9}")
    rows = [("default " + m["default_version"], m["default"]),
            ("default, threshold tuned on site", m["default_tuned"])]
    if "current" in m:
        rows.append(("current " + m["current"]["version"], m["current"]))
    rows.append(("candidate " + model.version, m["candidate"]))
    for name, row in rows:
        auc = "-" if row["roc_auc"] is None else f"{row['roc_auc']:.4f}"
        click.echo(f"{name[:34]:<34} {auc:>8} {row['f1']:>6.3f} {row['threshold']:>5.2f} "
                   f"{100 * row['flag_rate']:>8.1f}%")
    click.echo("promote it in the dashboard (Admin > site > Model) once the figures convince you")
