"""WSGI entry point: `gunicorn dms.wsgi:app`."""
from dms.app import create_app

app = create_app()
