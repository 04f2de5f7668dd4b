"""Secrets never reach a log: API keys (Perspective clients send ``?key=vg_...`` in the URL), signing secrets,
bearer tokens and the like are replaced by ``[redacted]`` in access-log lines and in Werkzeug's request log.

* ``RedactingLogger``: gunicorn's logger class for ``vigie web`` (``--logger-class``): every access-log atom
  (request line, query string, referer, request headers) goes through ``redact``.
* ``RedactFilter``: a logging filter the app factory puts on the ``werkzeug`` logger (``flask run``, the
  development server), which logs request lines the same way.
"""
from __future__ import annotations

import logging
import re

try:  # gunicorn is a dependency of the web process; the filter below works without it
    from gunicorn.glogging import Logger as _GunicornLogger
except ImportError:  # pragma: no cover
    _GunicornLogger = object  # type: ignore[assignment,misc]

REDACTED = "[redacted]"
SECRET_PARAMS = ("key", "api_key", "apikey", "api-key", "access_token", "token", "auth", "secret", "password",
                 "passwd", "signature", "sig", "client_secret")
# name=value in a query string (start of the string, after ?, & or ;), names matched case-insensitively, also
# percent-encoded separators (a query string inside a referer's query string).
_PARAM = re.compile(r"(?i)((?:^|[?&;]|%26|%3F)(?:" + "|".join(re.escape(p) for p in SECRET_PARAMS)
                    + r")(?:=|%3D))[^&;\s\"'#]*")
_TOKEN = re.compile(r"\b(vg|whsec)_[A-Za-z0-9_\-]{6,}")
_BEARER = re.compile(r"(?i)\b(bearer\s+)[^\s\"',]+")


def redact(text: str) -> str:
    if not text:
        return text
    text = _PARAM.sub(lambda m: m.group(1) + REDACTED, text)
    text = _TOKEN.sub(lambda m: m.group(1) + "_" + REDACTED, text)
    return _BEARER.sub(lambda m: m.group(1) + REDACTED, text)


def _redact_value(value):
    return redact(value) if isinstance(value, str) else value


class RedactingLogger(_GunicornLogger):  # type: ignore[misc,valid-type]
    """Gunicorn's logger, with every access-log atom redacted."""

    def atoms(self, resp, req, environ, request_time):
        atoms = super().atoms(resp, req, environ, request_time)
        return {name: _redact_value(value) for name, value in atoms.items()}


class RedactFilter(logging.Filter):
    """Redacts a record's message and its string arguments (Werkzeug logs ``'"%s" %s %s', requestline, ...``)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str):
            record.msg = redact(record.msg)
        if isinstance(record.args, tuple):
            record.args = tuple(_redact_value(a) for a in record.args)
        elif isinstance(record.args, dict):
            record.args = {k: _redact_value(v) for k, v in record.args.items()}
        return True


def install(logger_names=("werkzeug",)) -> None:
    """Put a RedactFilter on the named loggers (once)."""
    for name in logger_names:
        logger = logging.getLogger(name)
        if not any(isinstance(f, RedactFilter) for f in logger.filters):
            logger.addFilter(RedactFilter())
