"""The Flask application factory: configuration, the Dataverse client, blueprints, error handlers."""
from __future__ import annotations

from typing import TYPE_CHECKING

from flask import Flask, request

from plugin.api import bp as api_bp
from plugin.auth import ApiAuthenticator, host_allowed
from plugin.config import Config
from plugin.context import CONFIG_KEY, DATAVERSE_EXTENSION, app_config, app_dataverse
from plugin.errors import ApiError, register_error_handlers
from plugin.pages import bp as pages_bp
from plugin.pages.signin import PagesSessionInterface
from plugin.webhook import bp as webhook_bp

if TYPE_CHECKING:
    from connectors.dataverse import DataverseClient

__all__ = ["create_app", "app_config", "app_dataverse"]


def create_app(config: Config | None = None, *, dataverse: "DataverseClient | None" = None) -> Flask:
    """The plugin app: API (`/api/v1`), webhook (`/api/v1/webhooks`) and pages (`/pages`). No I/O here."""
    config = config or Config.from_env()
    app = Flask(__name__, static_folder=None)
    app.config[CONFIG_KEY] = config
    app.config["MAX_CONTENT_LENGTH"] = config.max_body_bytes
    app.json.sort_keys = False
    app.extensions[DATAVERSE_EXTENSION] = dataverse
    app.extensions["w365.auth"] = ApiAuthenticator(config)
    app.session_interface = PagesSessionInterface()  # the pages' sign-in; its secret is read on first use
    register_error_handlers(app)
    app.before_request(_guard_request)

    app.register_blueprint(api_bp, url_prefix="/api/v1")
    app.register_blueprint(webhook_bp, url_prefix="/api/v1/webhooks")
    app.register_blueprint(pages_bp)
    return app


def _guard_request() -> None:
    """Before any route: a Host the service does not answer to, or oversized headers, are refused."""
    config = app_config()
    if not host_allowed(config, request.host):
        raise ApiError(400, "host_not_allowed", "this service does not answer to that host name "
                       "(W365_ALLOWED_HOSTS)", {"host": (request.host or "")[:100]})
    size = sum(len(key) + len(value) for key, value in request.headers.items())
    if size > config.max_header_bytes:
        raise ApiError(431, "headers_too_large", f"the request headers exceed {config.max_header_bytes} bytes")
