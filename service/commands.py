"""Subcommands of ``vigie`` for running and operating the service: web, up, migrate, create-site, create-user,
failed, reconcile, labels export (``vigie worker`` is in workers/cli.py). Every setting comes from ``VIGIE_*`` environment
variables (core/settings.py)."""
from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request

import click
from rq.job import Job
from rq.registry import FailedJobRegistry
from sqlalchemy import select
from sqlalchemy.engine import make_url
from sqlalchemy.exc import IntegrityError

from core import netguard
from core import reconcile as core_reconcile
from core import erasure, logs, metrics, services
from core.connection import connect, redis_url_for
from core.keys import create_site
from core.queues import ALL_QUEUES
from core.settings import Settings
from core.storage.db import Database
from core.storage.migrate import upgrade
from core.storage.models import Site
from service import accounts

log = logging.getLogger("vigie")


def _settings() -> Settings:
    settings = Settings()
    settings.ensure_data_dir()
    return settings


def _migrate(settings: Settings) -> None:
    upgrade(settings.resolved_database_url)


@click.command()
def migrate() -> None:
    """Create or upgrade the database schema (Alembic)."""
    settings = _settings()
    _migrate(settings)
    click.echo(f"database at head: {_safe_url(settings.resolved_database_url)}")


def _safe_url(url: str) -> str:
    return make_url(url).render_as_string(hide_password=True)


@click.command()
@click.option("--host", default=None, help="Defaults to VIGIE_HOST.")
@click.option("--port", type=int, default=None, help="Defaults to VIGIE_PORT.")
@click.option("--workers", "processes", type=int, default=2, show_default=True, help="Gunicorn processes.")
@click.option("--threads", type=int, default=4, show_default=True, help="Threads per gunicorn process.")
@click.option("--no-migrate", is_flag=True, help="Skip the schema upgrade at start.")
@click.option("--keep-metrics", is_flag=True, hidden=True, help="Do not empty the metrics directory (`vigie up` "
              "empties it before starting its children).")
def web(host: str | None, port: int | None, processes: int, threads: int, no_migrate: bool,
        keep_metrics: bool) -> None:
    """Serve the HTTP API and dashboard with gunicorn."""
    settings = _settings()
    if not no_migrate:
        _migrate(settings)
    if not keep_metrics:
        metrics.clean_dir(metrics.metrics_dir(settings))
    bind = f"{host or settings.host}:{port or settings.port}"
    env = _child_env(settings)
    argv = [sys.executable, "-m", "gunicorn", "--bind", bind, "--workers", str(processes), "--threads",
            str(threads), "--worker-class", "gthread", *_gunicorn_logging(settings), "--graceful-timeout", "10",
            "--no-control-socket", "service.wsgi:app"]
    _configure_logging(settings)
    log.info("web: serving http://%s (%d process(es) x %d thread(s))", bind, processes, threads)
    _run_child(argv, env)  # not exec: this process keeps the embedded Redis (if any) alive


def _configure_logging(settings: Settings) -> None:
    logs.configure(settings.log_level, settings.log_format)


def _gunicorn_logging(settings: Settings) -> list[str]:
    """Gunicorn reads its logging set-up (Vigie's format, quiet unless DEBUG) from service/gunicorn_conf.py."""
    return ["--config", "python:service.gunicorn_conf"]


def _run_child(argv: list[str], env: dict[str, str]) -> None:
    child = subprocess.Popen(argv, env=env)

    def _forward(signum, _frame):
        child.send_signal(signum)

    signal.signal(signal.SIGTERM, _forward)
    signal.signal(signal.SIGINT, _forward)
    sys.exit(child.wait())


def _child_env(settings: Settings) -> dict[str, str]:
    """Environment for child processes: the same settings, the embedded Redis by its socket, one secret key."""
    env = dict(os.environ)
    env["VIGIE_DATA_DIR"] = str(settings.data_dir.resolve())
    env["VIGIE_REDIS_URL"] = redis_url_for(settings)
    env["VIGIE_DATABASE_URL"] = settings.resolved_database_url
    env["VIGIE_SECRET_KEY"] = settings.resolved_secret_key()
    env.update(metrics.child_env(settings))  # gunicorn's processes and the workers share one metrics directory
    return env


@click.command()
@click.option("--port", type=int, default=None, help="Defaults to VIGIE_PORT.")
@click.option("--webhooks/--no-webhooks", default=True, show_default=True, help="Also run a webhook worker.")
def up(port: int | None, webhooks: bool) -> None:
    """Run web + VIGIE_WORKERS workers (+ a webhook worker) as one process group, for a single machine.
    Ctrl-C stops them all."""
    started = time.monotonic()
    settings = _settings()
    _configure_logging(settings)
    _migrate(settings)
    metrics.clean_dir(metrics.metrics_dir(settings))  # before any child writes its figures there
    env = _child_env(settings)  # starts the embedded Redis (kept alive by this process)
    vigie = [sys.executable, "-m", "core.cli"]
    commands = [vigie + ["web", "--no-migrate", "--keep-metrics"] + (["--port", str(port)] if port else [])]
    commands += [vigie + ["worker"] for _ in range(settings.workers)]
    if webhooks:
        commands.append(vigie + ["worker", "--queues", "webhooks"])
    # Children get their own session: Ctrl-C reaches only this process, which stops each child exactly once
    # (a second signal would make rq stop a job mid-way).
    children = [subprocess.Popen(argv, env=env, start_new_session=True) for argv in commands]
    base_url = f"http://{_local_host(settings.host)}:{port or settings.port}"
    log.info("starting web + %d worker(s) on %s; a ready line follows once a worker has loaded the model",
             settings.workers, base_url)
    stopping = False

    def _stop(signum, _frame):
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    code = 0
    ready = False
    while not stopping:
        for child in children:
            if child.poll() is not None:
                log.error("%s exited (%s); stopping", " ".join(child.args[3:]), child.returncode)
                code, stopping = child.returncode or 1, True
        if not stopping and not ready:
            workers = _ready_workers(base_url)
            if workers:
                ready = True
                log.info("ready on %s in %.1f s: the web answers and %d scoring worker(s) have loaded the model; "
                         "Ctrl-C to stop", base_url, time.monotonic() - started, workers)
        time.sleep(0.5)
    for child in children:
        if child.poll() is None:
            child.send_signal(signal.SIGTERM)
    deadline = time.time() + 20
    for child in children:
        try:
            child.wait(max(0.1, deadline - time.time()))
        except subprocess.TimeoutExpired:
            child.kill()
    sys.exit(code)


def _local_host(host: str) -> str:
    """Where this machine reaches a server bound to ``host`` (a wildcard bind answers on loopback)."""
    if host in ("", "0.0.0.0"):
        return "127.0.0.1"
    if host == "::":
        return "[::1]"
    return f"[{host}]" if ":" in host and not host.startswith("[") else host


def _ready_workers(base_url: str) -> int:
    """Live scoring workers according to ``/readyz`` when it answers 200, else 0 (not ready or not answering)."""
    try:
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # loopback: never via a proxy
        with opener.open(f"{base_url}/readyz", timeout=2) as response:
            body = json.loads(response.read() or b"{}")
        return max(1, int(body.get("checks", {}).get("workers", {}).get("count", 1)))
    except (urllib.error.URLError, OSError, ValueError):  # 503 (HTTPError), refused, timeout, not JSON yet
        return 0


@click.command("create-site")
@click.argument("slug")
@click.option("--name", default=None, help="Display name (default: the slug).")
@click.option("--callback-url", default=None,
              help="Where signed decision webhooks are sent (http(s); no internal address unless allowed by "
                   "VIGIE_CALLBACK_ALLOW_HOSTS / VIGIE_CALLBACK_ALLOW_NETWORKS).")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
def create_site_command(slug: str, name: str | None, callback_url: str | None, as_json: bool) -> None:
    """Create a site; prints its API key and signing secret (shown once)."""
    settings = _settings()
    if callback_url is not None:
        try:
            netguard.check_url(callback_url, netguard.AllowList.from_settings(settings))
        except netguard.UnsafeURL as exc:
            raise click.BadParameter(str(exc), param_hint="--callback-url") from None
    db = Database(settings.resolved_database_url)
    with db.session() as session:
        if session.scalar(select(Site).where(Site.slug == slug)) is not None:
            raise click.ClickException(f"a site with slug {slug!r} already exists")
        site, key, secret = create_site(session, slug, name)
        site.callback_url = callback_url
        site_id = site.id
    out = {"id": site_id, "slug": slug, "api_key": key, "signing_secret": secret}
    if as_json:
        click.echo(json.dumps(out))
    else:
        for label, value in out.items():
            click.echo(f"{label}: {value}")
        click.echo("Keep the API key and the signing secret: they are not shown again.")


@click.command("create-user")
@click.argument("username")
@click.option("--role", type=click.Choice(["moderator", "admin"]), default="moderator", show_default=True)
@click.option("--password", prompt=True, hide_input=True, confirmation_prompt=True,
              help="Prompted for when omitted (or set VIGIE_NEW_USER_PASSWORD).", envvar="VIGIE_NEW_USER_PASSWORD")
def create_user_command(username: str, role: str, password: str) -> None:
    """Create a dashboard user (moderator or admin)."""
    settings = _settings()
    db = Database(settings.resolved_database_url)
    try:
        with db.session() as session:
            accounts.create_user(session, username, password, role=role)
    except ValueError as exc:
        raise click.ClickException(str(exc)) from exc
    except IntegrityError as exc:
        raise click.ClickException(f"a user named {username!r} already exists") from exc
    click.echo(f"user {username} ({role}) created")


@click.command()
@click.option("--requeue", is_flag=True, help="Put every failed job back on its queue.")
@click.option("--json", "as_json", is_flag=True, help="Print the failed jobs as JSON.")
def failed(requeue: bool, as_json: bool) -> None:
    """List failed jobs on every Vigie queue (kept 7 days), or re-queue them."""
    connection = connect(_settings())
    rows = []
    for name in ALL_QUEUES:
        registry = FailedJobRegistry(name, connection=connection)
        for job_id in registry.get_job_ids():
            job = Job.fetch(job_id, connection=connection) if Job.exists(job_id, connection) else None
            result = job.latest_result() if job is not None else None
            error = (result.exc_string or "").strip().splitlines()[-1:] if result is not None else []
            rows.append({"queue": name, "id": job_id, "func": job.func_name if job else None,
                         "ended_at": job.ended_at.isoformat() if job and job.ended_at else None,
                         "error": error[0] if error else ""})
            if requeue:
                registry.requeue(job_id)
    if as_json:
        click.echo(json.dumps({"failed": rows, "requeued": len(rows) if requeue else 0}))
        return
    for row in rows:
        click.echo(f"{row['queue']}\t{row['id']}\t{row['func']}\t{row['ended_at']}\t{row['error']}")
    click.echo(f"{len(rows)} failed job(s)" + (", re-queued" if requeue and rows else ""))


@click.command()
@click.option("--min-age", type=float, default=None, help="Seconds; default VIGIE_RECONCILE_MIN_AGE_S.")
def reconcile(min_age: float | None) -> None:
    """Re-queue accepted comments still pending that no job holds, and webhook deliveries never queued (workers
    run this periodically)."""
    count = core_reconcile.reconcile(services.build(_settings()), min_age)
    click.echo(f"{count} pending comment(s) re-queued")


@click.group("labels")
def labels_group() -> None:
    """Labelled examples made from moderators' decisions (issue 13)."""


@labels_group.command("export")
@click.option("--site", "slug", required=True, help="The site's slug.")
@click.option("--since", type=click.DateTime(["%Y-%m-%d", "%Y-%m-%dT%H:%M:%S"]), default=None,
              help="Only decisions from this date (UTC).")
@click.option("--until", type=click.DateTime(["%Y-%m-%d", "%Y-%m-%dT%H:%M:%S"]), default=None,
              help="Only decisions before this date (UTC).")
@click.option("-o", "--output", type=click.Path(dir_okay=False, allow_dash=True), default="-", show_default=True,
              help="CSV file (- for stdout).")
def labels_export(slug: str, since, until, output: str) -> None:
    """Write a site's labelled decisions as CSV: text, label (1 = rejected), labels, reason, decided_at, moderator,
    source, the model's scores at decision time, model name and version. The latest human decision on a comment
    wins; undone decisions do not count."""
    from datetime import timezone

    from core.labels import site_labels, write_csv

    def utc(moment):
        return moment.replace(tzinfo=timezone.utc) if moment is not None else None

    db = Database(_settings().resolved_database_url)
    with db.session() as session:
        site_id = session.scalar(select(Site.id).where(Site.slug == slug))
        if site_id is None:
            raise click.ClickException(f"no site with slug {slug!r}")
        examples = site_labels(session, site_id, utc(since), utc(until))
    if output == "-":
        write_csv(examples, sys.stdout)
    else:
        with open(output, "w", newline="", encoding="utf-8") as f:
            write_csv(examples, f)
    click.echo(f"{len(examples)} labelled decision(s) of {slug}", err=True)


@click.command()
@click.option("--site", "slug", required=True, help="The site's slug.")
@click.option("--author", "author_id", default=None, help="Erase every comment of this author id on the site.")
@click.option("--comment", "comment_id", type=int, default=None, help="Erase one comment (Vigie's id).")
@click.option("--by", "actor_name", default=None, help="Who asked, for the audit log (default: the OS user).")
@click.option("--json", "as_json", is_flag=True, help="Print the counts as JSON.")
def erase(slug: str, author_id: str | None, comment_id: int | None, actor_name: str | None, as_json: bool) -> None:
    """Erase an author's comments (GDPR art. 17) or one comment: text, original text, author and spans go, a
    tombstone with scores and decision stays; audited (docs/operations.md)."""
    if (author_id is None) == (comment_id is None):
        raise click.UsageError("give exactly one of --author and --comment")
    svc = services.build(_settings())
    name = actor_name or f"cli:{os.environ.get('USER', 'unknown')}"
    with svc.db.session() as session:
        site = session.scalar(select(Site).where(Site.slug == slug))
        if site is None:
            raise click.ClickException(f"no site with slug {slug!r}")
        if author_id is not None:
            report = erasure.erase_author(svc, session, site.id, author_id, "admin", name)
        else:
            report = erasure.erase_comment(svc, session, site.id, comment_id, "admin", name)
            if report is None:
                raise click.ClickException(f"no comment {comment_id} on site {slug!r}")
    out = report.as_dict()
    if as_json:
        click.echo(json.dumps(out))
    else:
        click.echo(f"{out['comments']} comment(s) erased; " + ", ".join(f"{k}: {v}" for k, v in out.items()
                                                                         if k != "comments"))


COMMANDS = [web, up, migrate, create_site_command, create_user_command, failed, reconcile, erase, labels_group]
