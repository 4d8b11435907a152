"""Pechat: the document archive (Flask application, services, CLI)."""
from dms import quiet

quiet.install()  # before any third-party import of the package prints a deprecation notice to a user
