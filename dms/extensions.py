"""The Flask extension objects, made once and bound to the app by dms.app.create_app: views import them from here,
never from the application factory (which imports every view)."""
from flask_babel import gettext as _
from flask_login import LoginManager
from flask_wtf.csrf import CSRFProtect

from dms.errors import N_

SESSION_KEY = "dms_sid"  # the cookie's server-side session id (dms.people.sessions)
csrf = CSRFProtect()
login_manager = LoginManager()
login_manager.login_view = "web.login"
login_manager.login_message = N_("Войдите, чтобы продолжить.")
login_manager.localize_callback = _
login_manager.session_protection = "strong"

