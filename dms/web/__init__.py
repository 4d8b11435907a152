"""The web UI: pages for people. Views parse and render; the rules are in dms.services."""
from flask import Blueprint

bp = Blueprint("web", __name__)

from . import (audit, certificates, dashboard, records, search, sharing, signing, verify, views,  # noqa: E402,F401
               workflow)
