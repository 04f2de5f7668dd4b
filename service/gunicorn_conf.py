"""Gunicorn settings read by ``vigie web`` (``gunicorn --config python:service.gunicorn_conf``): logging in Vigie's
format and level (``VIGIE_LOG_LEVEL``, ``VIGIE_LOG_FORMAT``, ``VIGIE_ACCESS_LOG``; see core/logs.py). Options given
on gunicorn's command line (bind, workers, threads) take precedence over this file.

Requests gunicorn refuses before the app sees them (a request line over 4,094 bytes: 414; a malformed request
line or header: 400; header fields too large: 431) are answered in the API's JSON error shape
``{"error": {"code", "message"}}`` instead of gunicorn's HTML page (``write_json_error``)."""
import json

from gunicorn import util

from core import logs, metrics
from core.settings import Settings

_settings = Settings()
loglevel = logs.level_name(_settings.log_level).lower() if logs.is_debug(_settings.log_level) else "warning"
logconfig_dict = logs.gunicorn_logconfig(_settings.log_level, _settings.log_format, _settings.access_log)
logger_class = "service.logredact.RedactingLogger"  # no API key in any access-log line


def write_json_error(sock, status_int: int, reason: str, mesg: str) -> None:
    """gunicorn's ``util.write_error`` (its error answer for a request it cannot parse), in JSON."""
    body = json.dumps({"error": {"code": reason.lower().replace(" ", "_"),
                                 "message": (mesg or reason)[:300]}}).encode("ascii")
    head = (f"HTTP/1.1 {status_int} {reason}\r\nConnection: close\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n\r\n").encode("latin-1")
    util.write_nonblock(sock, head + body)


util.write_error = write_json_error  # gunicorn's workers call util.write_error at the time of the error


def child_exit(server, worker):  # noqa: ARG001 (gunicorn's hook signature)
    """A gunicorn process exited: its live gauges leave the metrics directory (core/metrics.py)."""
    metrics.mark_dead(worker.pid)
