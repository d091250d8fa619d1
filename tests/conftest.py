"""Shared fixtures: an in-process local Dataverse and a connector that authenticates through msal."""
from __future__ import annotations

import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from connectors.dataverse import DataverseClient
from connectors.dataverse.auth import token_provider
from connectors.local_dataverse import LocalDataverse
from plugin.provisioning.local import provisioned_dataverse


def free_port() -> int:
    """A loopback port that was free a moment ago (nobody listens on it)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class QuietHandler(BaseHTTPRequestHandler):
    """A request handler for test servers: logs nothing."""

    def log_message(self, format: str, *args: Any) -> None:
        pass


def start_http_server(handler: type[BaseHTTPRequestHandler]) -> ThreadingHTTPServer:
    """`handler` served on a free loopback port in a daemon thread (stop: `shutdown()`, `server_close()`)."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


@pytest.fixture(scope="module")
def local_dataverse():
    """A fresh in-memory local Dataverse, provisioned (`w365 provision`), one per test module."""
    dv = provisioned_dataverse(port=0).start()
    try:
        yield dv
    finally:
        dv.stop()


def make_client(dv: LocalDataverse, **options) -> DataverseClient:
    """A connector for `dv` using the same msal client-credentials path as a real org."""
    provider = token_provider(
        resource_url=dv.url,
        tenant_id="local-tenant",
        client_id="local-client",
        client_secret="local-secret",
        authority=dv.authority,
    )
    return DataverseClient(dv.url, token_provider=provider, **options)


@pytest.fixture(scope="module")
def dataverse_client(local_dataverse):
    """The connector, authenticated with msal against the module's local Dataverse."""
    return make_client(local_dataverse)
