"""The local Dataverse: a Dataverse Web API v9.2 server on Flask + SQLite (connectors/local_dataverse/README.md).

`LocalDataverse(db_path=":memory:", port=0, latency_ms=0).start()` serves it on 127.0.0.1 in a
daemon thread; `create_app(store, ...)` builds the Flask app. Nothing is opened at import time.
"""

from __future__ import annotations

from typing import Any

__all__ = ["LocalDataverse", "create_app", "Store"]


def __getattr__(name: str) -> Any:
    if name == "LocalDataverse":
        from .server import LocalDataverse

        return LocalDataverse
    if name == "create_app":
        from .app import create_app

        return create_app
    if name == "Store":
        from .store import Store

        return Store
    raise AttributeError(name)
