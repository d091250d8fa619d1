"""The pages blueprint: the Generate Invoice dialog and the bulk window (docs/interfaces.md)."""
from __future__ import annotations

from flask import Blueprint

bp = Blueprint("pages", __name__, url_prefix="/pages",
               template_folder="templates", static_folder="static")

from plugin.pages import views  # noqa: E402,F401  (registers the routes on bp)
