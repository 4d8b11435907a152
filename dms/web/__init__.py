"""The web UI: pages for people. Views parse and render; the rules are in dms.services."""
from flask import Blueprint

bp = Blueprint("web", __name__)

from . import (audit, certificates, dashboard, language, records, register, search, sharing, signing,  # noqa: E402,F401
               verify, views, workflow)
from . import agreements, assessments  # noqa: E402,F401  (agreements, assessment reports)
