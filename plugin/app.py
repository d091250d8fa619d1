"""The Flask application factory: configuration, the Dataverse client, blueprints, error handlers."""
from __future__ import annotations

from typing import TYPE_CHECKING

from flask import Flask, current_app

from plugin.auth import ApiAuthenticator
from plugin.config import Config
from plugin.errors import register_error_handlers

if TYPE_CHECKING:
    from connectors.dataverse import DataverseClient

_DATAVERSE = "w365.dataverse"


def create_app(config: Config | None = None, *, dataverse: "DataverseClient | None" = None) -> Flask:
    """The plugin app: API (`/api/v1`), webhook (`/api/v1/webhooks`) and pages (`/pages`). No I/O here."""
    config = config or Config.from_env()
    app = Flask(__name__, static_folder=None)
    app.config["W365"] = config
    app.config["MAX_CONTENT_LENGTH"] = config.max_body_bytes
    app.json.sort_keys = False
    app.extensions[_DATAVERSE] = dataverse
    app.extensions["w365.auth"] = ApiAuthenticator(config)
    register_error_handlers(app)
    app.before_request(_guard_request)

    from plugin.api import bp as api_bp
    from plugin.pages import bp as pages_bp
    from plugin.webhook import bp as webhook_bp

    app.register_blueprint(api_bp, url_prefix="/api/v1")
    app.register_blueprint(webhook_bp, url_prefix="/api/v1/webhooks")
    app.register_blueprint(pages_bp)
    return app


def _guard_request() -> None:
    """Before any route: a Host the service does not answer to, or oversized headers, are refused."""
    from flask import request

    from plugin.auth import host_allowed
    from plugin.errors import ApiError

    config = app_config()
    if not host_allowed(config, request.host):
        raise ApiError(400, "host_not_allowed", "this service does not answer to that host name "
                       "(W365_ALLOWED_HOSTS)", {"host": (request.host or "")[:100]})
    size = sum(len(key) + len(value) for key, value in request.headers.items())
    if size > config.max_header_bytes:
        raise ApiError(431, "headers_too_large", f"the request headers exceed {config.max_header_bytes} bytes")


def app_config(app: Flask | None = None) -> Config:
    """The Config of `app` (default: the current app)."""
    return (app or current_app).config["W365"]


def app_dataverse(app: Flask | None = None) -> "DataverseClient":
    """The app's Dataverse client (the application user), created from the config on first use."""
    app = app or current_app
    client = app.extensions.get(_DATAVERSE)
    if client is None:
        from connectors.dataverse import DataverseClient

        client = DataverseClient.from_config(app_config(app))
        app.extensions[_DATAVERSE] = client
    return client
