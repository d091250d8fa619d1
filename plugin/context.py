"""What the blueprints reach through `current_app`: the service's Config and its Dataverse client.

The app factory (`plugin.app`) puts them on the app; blueprints import this module, never the factory.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from flask import Flask, current_app

from plugin.config import Config

if TYPE_CHECKING:
    from connectors.dataverse import DataverseClient

CONFIG_KEY = "W365"
DATAVERSE_EXTENSION = "w365.dataverse"


def app_config(app: Flask | None = None) -> Config:
    """The Config of `app` (default: the current app)."""
    return (app or current_app).config[CONFIG_KEY]


def app_dataverse(app: Flask | None = None) -> "DataverseClient":
    """The app's Dataverse client (the application user), created from the config on first use."""
    app = app or current_app
    client = app.extensions.get(DATAVERSE_EXTENSION)
    if client is None:
        from connectors.dataverse import DataverseClient

        client = DataverseClient.from_config(app_config(app))
        app.extensions[DATAVERSE_EXTENSION] = client
    return client
