"""WSGI entry point for gunicorn: ``gunicorn service.wsgi:app`` (settings from ``VIGIE_*``)."""
from service import logs
from service.app import create_app
from service.config import Settings

settings = Settings()
logs.configure(settings.log_level, settings.log_format)
app = create_app(settings)
