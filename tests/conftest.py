"""Shared fixtures: an in-process local Dataverse and a connector that authenticates through msal."""
from __future__ import annotations

import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
import requests

from connectors.dataverse import DataverseClient
from connectors.dataverse.auth import token_provider
from connectors.local_dataverse import LocalDataverse
from plugin.provisioning.local import provisioned_dataverse


def free_port() -> int:
    """A loopback port that was free a moment ago (nobody listens on it)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_until_serving(url: str, timeout_s: float = 30.0) -> bool:
    """Whether something answers HTTP at `url` within `timeout_s` (a server just started in a process)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            requests.get(url, timeout=2)
            return True
        except requests.ConnectionError:
            time.sleep(0.1)
    return False


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
    """A connector for `dv`: over https through msal client credentials, exactly as against a
    real org (the CA must be trusted: `trust_local_ca`); over plain http with the fixed
    development token, as the docs say (msal accepts only https authorities)."""
    if dv.ca_path is None:
        provider = token_provider(resource_url=dv.url, fixed_token="local-dev-token")
    else:
        provider = token_provider(
            resource_url=dv.url,
            tenant_id="local-tenant",
            client_id="local-client",
            client_secret="local-secret",
            authority=dv.authority,
        )
    return DataverseClient(dv.url, token_provider=provider, **options)


@pytest.fixture(scope="session")
def tls_dir(tmp_path_factory):
    """One CA and server certificate for every TLS local Dataverse of the run."""
    return str(tmp_path_factory.mktemp("tls"))


@pytest.fixture(scope="module")
def tls_dataverse(tls_dir):
    """A provisioned local Dataverse serving https (trust it with `trust_local_ca`)."""
    dv = provisioned_dataverse(port=0, tls=True, tls_dir=tls_dir).start()
    try:
        yield dv
    finally:
        dv.stop()


@pytest.fixture
def trust_local_ca(tls_dataverse, monkeypatch):
    """requests (so msal, the connector and the SDK) trusts the local CA, as the docs say."""
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", tls_dataverse.ca_path)
    monkeypatch.setenv("SSL_CERT_FILE", tls_dataverse.ca_path)
    return tls_dataverse.ca_path


@pytest.fixture(scope="module")
def dataverse_client(local_dataverse):
    """The connector, authenticated with msal against the module's local Dataverse."""
    return make_client(local_dataverse)
