"""Gunicorn settings read by ``vigie web`` (``gunicorn --config python:service.gunicorn_conf``): logging in Vigie's
format and level (``VIGIE_LOG_LEVEL``, ``VIGIE_LOG_FORMAT``, ``VIGIE_ACCESS_LOG``; see core/logs.py). Options given
on gunicorn's command line (bind, workers, threads) take precedence over this file."""
from core import logs, metrics
from core.settings import Settings

_settings = Settings()
loglevel = logs.level_name(_settings.log_level).lower() if logs.is_debug(_settings.log_level) else "warning"
logconfig_dict = logs.gunicorn_logconfig(_settings.log_level, _settings.log_format, _settings.access_log)
logger_class = "service.logredact.RedactingLogger"  # no API key in any access-log line


def child_exit(server, worker):  # noqa: ARG001 (gunicorn's hook signature)
    """A gunicorn process exited: its live gauges leave the metrics directory (core/metrics.py)."""
    metrics.mark_dead(worker.pid)
