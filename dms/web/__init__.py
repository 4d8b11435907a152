"""The web UI's blueprint and its template helpers. Each capability's pages (dms.<capability>.web) register on `bp`;
dms.app imports them (this module imports none, so it is a leaf every view can import). Views parse and render;
the rules are in each capability's service."""
from flask import Blueprint

bp = Blueprint("web", __name__)


@bp.app_template_global()
def can(permission: str) -> bool:
    """In templates, `{% if can('ManagePKI') %}`: whether the current user holds a site permission (through a
    global role, by the one table in dms.security). Templates ask for permissions, never for role names."""
    from flask_login import current_user

    from dms.security import Permission, holds_globally
    return holds_globally(current_user if current_user.is_authenticated else None, Permission(permission))
