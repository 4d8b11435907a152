"""JSON API under /api/v1 with bearer tokens."""
from flask import Blueprint

bp = Blueprint("api", __name__)

from . import (certificate_routes, records_routes, register_routes, routes,  # noqa: E402,F401  (registers routes)
               search_routes, signing_routes)
from . import agreement_routes, assessment_routes  # noqa: E402,F401  (agreements, assessment reports)
from . import public_check_routes  # noqa: E402,F401  (the public check of signed documents)
