"""WSGI entry point for gunicorn: ``gunicorn service.wsgi:app`` (settings from ``VIGIE_*``)."""
from service.app import create_app

app = create_app()
