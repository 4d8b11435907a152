"""JSON API under /api/v1 with bearer tokens."""
from flask import Blueprint

bp = Blueprint("api", __name__)

from . import (certificate_routes, records_routes, routes, search_routes,  # noqa: E402,F401  (registers routes)
               signing_routes)
