"""Provisioning the local Dataverse: in-process through the connector, and a provisioned template
database that tests and benchmarks copy instead of provisioning every store again."""

from __future__ import annotations

import tempfile
import threading
from pathlib import Path
from typing import Any

from connectors.dataverse import DataverseClient
from connectors.local_dataverse import LocalDataverse

from . import provision
from .model import Plan

_lock = threading.Lock()
_template: str | None = None


def provision_local(dv: LocalDataverse) -> Plan:
    """Run `w365 provision` against a running local Dataverse (development token)."""
    client = DataverseClient(dv.url, token_provider=lambda *a, **k: "local-dev-token")
    try:
        return provision(client)
    finally:
        client.close()


def provisioned_template() -> str:
    """A SQLite file provisioned once per process (copied by `provisioned_dataverse`)."""
    global _template
    with _lock:
        if _template is None:
            path = str(Path(tempfile.mkdtemp(prefix="w365-template-")) / "dataverse.sqlite3")
            dv = LocalDataverse(db_path=path, port=0).start()
            try:
                provision_local(dv)
            finally:
                dv.stop()
            _template = path
        return _template


def provisioned_dataverse(**options: Any) -> LocalDataverse:
    """A local Dataverse (not started) whose store begins as a provisioned copy."""
    options.setdefault("db_path", ":memory:")
    return LocalDataverse(template=provisioned_template(), **options)
