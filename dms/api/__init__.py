"""The JSON API's blueprint (/api/v1, bearer tokens). Each capability's routes (dms.<capability>.api) register on
`bp`; dms.app imports them, this module imports none."""
from flask import Blueprint

bp = Blueprint("api", __name__)
