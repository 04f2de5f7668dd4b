"""Typed settings read from ``VIGIE_*`` environment variables.

Every field below is documented in README.md ("Configuration"). Defaults are chosen so that
``vigie up`` works on a fresh machine: a SQLite file and an embedded Redis under ``VIGIE_DATA_DIR``.
"""
from __future__ import annotations

import os
import secrets
from functools import cached_property
from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator
from limits import parse_many
from pydantic_settings import BaseSettings, SettingsConfigDict

from core.netguard import AllowList


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="VIGIE_", extra="ignore")

    data_dir: Path = Field(Path("var"), description="Where the SQLite file, embedded Redis and model cache live.")
    database_url: str | None = Field(None, description="SQLAlchemy URL; unset means sqlite:///<data_dir>/vigie.db.")
    redis_url: str | None = Field(None, description="redis:// or unix:// URL; unset means an embedded Redis.")
    secret_key: str | None = Field(None, description="Flask session key; unset means generated once into <data_dir>/secret_key.")

    host: str = "127.0.0.1"
    port: int = 8000

    model: str = Field("vigie-fr-toxicity", description="Built-in default, a Hugging Face model id or a local path.")
    model_cache: Path | None = Field(None, description="Where the base encoder is built; unset means <data_dir>/models.")
    device: str = "cpu"
    quantize: Literal["none", "int8"] = "none"
    torch_threads: int = Field(0, description="0 means torch's default (one per core).")
    batch_size: int = Field(32, ge=1, le=512)
    batch_wait_ms: int = Field(5, ge=0, le=1000, description="How long a worker waits for more comments to fill a batch.")
    workers: int = Field(1, ge=1, le=32, description="Worker processes started by `vigie up`.")

    max_text_chars: int = Field(20_000, ge=1)
    max_batch: int = Field(100, ge=1)
    max_body_bytes: int = Field(4 * 1024 * 1024, ge=1024)
    sync_timeout_ms: int = Field(700, ge=10, description="Budget for synchronous scoring (Perspective, Coral).")
    job_timeout_s: int = 300
    reconcile_interval_s: int = Field(10, ge=1, description="How often a worker re-enqueues orphaned pending comments.")
    reconcile_min_age_s: int = Field(10, ge=0, description="Pending comments younger than this are left alone.")
    webhook_timeout_s: float = 5.0
    redis_timeout_s: float = Field(5.0, gt=0, le=60, description="Connect and read timeout of the web side's Redis "
                                   "client (ingest, health, sync scoring); a down or hung Redis costs a request this much.")
    session_cookie_secure: bool = Field(False, description="Set true behind HTTPS.")
    log_level: str = Field("INFO", description="Level of Vigie's logs (DEBUG adds rq's per-job lines and access logs).")
    log_format: Literal["text", "json"] = Field("text", description="`json`: one JSON object per log line.")
    access_log: bool = Field(False, description="Log every HTTP request (always on at DEBUG).")
    lexicons_dir: Path | None = Field(None, description="Seed word lists offered in site settings; unset means data/lexicons.")
    # Integrations (docs/integrations.md)
    coral_timeout_ms: int = Field(150, ge=10, description="Scoring budget of a Coral call before 204 (Coral's "
                                  "external phase waits 200 ms unless its admin sets more).")
    coral_replay_window_s: int = Field(600, ge=1, description="A Coral request identical to one received this recently "
                                       "(same action, author, story, parent and body) is the same comment.")
    public_url: str | None = Field(None, description="Vigie's public base URL (e.g. https://vigie.example), used as "
                                   "rootUrl of the Perspective discovery document; unset means the request's own.")
    perspective_languages: str = Field("fr,en,de,es,it,pt,ro", description="Languages the Perspective API accepts (comma list).")
    webhook_retry_intervals: list[int] = Field(
        [10, 30, 60, 300, 900, 1800, 3600, 7200, 14400, 28800, 28800],
        description="Seconds between delivery retries (JSON list); the default spans about 24 h.")
    # Outgoing requests (core/netguard.py): callback URLs may not reach loopback, private, link-local or
    # metadata addresses unless named here.
    callback_allow_hosts: str = Field("", description="Host names a callback URL may use whatever they resolve to "
                                      "(comma list), e.g. localhost for local development.")
    callback_allow_networks: str = Field("", description="Addresses or CIDR networks callbacks may reach despite "
                                         "the SSRF rules (comma list), e.g. 127.0.0.0/8,::1.")

    # Operations (docs/operations.md)
    metrics_dir: Path | None = Field(None, description="prometheus-client's multiprocess directory; unset means "
                                     "<data_dir>/metrics (emptied when `vigie web` / `vigie up` start).")
    metrics_token: str | None = Field(None, description="When set, /metrics requires `Authorization: Bearer "
                                      "<token>`; unset, /metrics is open (keep it on a private network).")
    worker_metrics_port: int = Field(0, ge=0, le=65535, description="When set, `vigie worker` serves its own "
                                     "/metrics on this port (workers on another host than the web).")
    retention_days: int = Field(0, ge=0, description="Erase the text and author of comments decided more than N "
                                "days ago (checked by the workers' reconciler, at most hourly); 0 keeps them.")

    # Rate limits (service/ratelimit.py; Flask-Limiter syntax: "10 per 15 minutes", "50/second;1200/minute").
    login_rate_limit_ip: str = Field("10 per 15 minutes", description="Failed dashboard logins per client address, "
                                     "across usernames.")
    login_rate_limit_user: str = Field("10 per 15 minutes", description="Failed dashboard logins per username, "
                                       "across addresses.")
    api_rate_limit: str = Field("50 per second;1200 per minute", description="Requests per API key (REST, "
                                "Perspective, admin API); off disables.")

    site_train_base_rows: int = Field(800, ge=0, le=100_000, description="Base-data rows mixed into the training of "
                                      "a site's own model, so it does not forget (0: the site's decisions only).")
    site_train_steps: int = Field(300, ge=1, le=100_000, description="Optimisation steps of a site model's head.")

    @field_validator("login_rate_limit_ip", "login_rate_limit_user", "api_rate_limit")
    @classmethod
    def _rate_limit(cls, value: str) -> str:
        if value.strip().lower() not in ("", "0", "off", "none", "false", "no"):
            parse_many(value)  # a typo is an error at start, not a silent absence of limits
        return value

    @field_validator("callback_allow_networks")
    @classmethod
    def _networks(cls, value: str) -> str:
        AllowList.parse(networks=value)  # a typo is an error at start, not a silently empty list
        return value

    @cached_property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'vigie.db').resolve()}"

    @cached_property
    def resolved_model_cache(self) -> Path:
        return self.model_cache or (self.data_dir / "models")

    def ensure_data_dir(self) -> Path:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        return self.data_dir

    def resolved_secret_key(self) -> str:
        if self.secret_key:
            return self.secret_key
        path = self.ensure_data_dir() / "secret_key"
        if not path.exists():
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as fh:
                fh.write(secrets.token_hex(32))
        return path.read_text().strip()


def get_settings(**overrides) -> Settings:
    return Settings(**overrides)
