"""The web UI: pages for people. Views parse and render; the rules are in dms.services."""
from flask import Blueprint

bp = Blueprint("web", __name__)


@bp.app_template_global()
def can(permission: str) -> bool:
    """In templates, `{% if can('ManagePKI') %}`: whether the current user holds a site permission (through a
    global role, by the one table in dms.security). Templates ask for permissions, never for role names."""
    from flask_login import current_user

    from ..security import Permission, holds_globally
    return holds_globally(current_user if current_user.is_authenticated else None, Permission(permission))

from . import (audit, certificates, dashboard, language, records, register, search, sharing, signing,  # noqa: E402,F401
               verify, views, workflow)
from . import agreements, assessments  # noqa: E402,F401  (agreements, assessment reports)
from . import admin  # noqa: E402,F401  (users, groups, the one-time password change)
