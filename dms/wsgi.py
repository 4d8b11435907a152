"""WSGI entry point: `gunicorn dms.wsgi:app`."""
from .app import create_app

app = create_app()
