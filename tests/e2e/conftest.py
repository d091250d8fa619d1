"""End-to-end fixtures: the plugin app on the module's local Dataverse, and a small world of rows."""
from __future__ import annotations

from typing import Any

import pytest

from plugin.app import create_app
from plugin.config import Config
from tests import factories
from tests.conftest import make_client

WEBHOOK_KEYS = ("webhook-key-old", "webhook-key-new")


@pytest.fixture(scope="module")
def plugin_config() -> Config:
    """Dev-mode API (loopback test client), two webhook keys (rotation)."""
    return Config(api_auth=("dev",), webhook_keys=WEBHOOK_KEYS, max_body_bytes=64 * 1024)


@pytest.fixture(scope="module")
def plugin_app(plugin_config, dataverse_client):
    """The plugin app acting through the module's connector."""
    return create_app(plugin_config, dataverse=dataverse_client)


@pytest.fixture(scope="module")
def fuzz_schema(plugin_app):
    """The app's OpenAPI document (generated from the marshmallow schemas), for schemathesis."""
    import schemathesis

    return schemathesis.openapi.from_wsgi("/api/v1/openapi.json", plugin_app)


@pytest.fixture()
def api(plugin_app):
    """A Flask test client of the plugin (remote address 127.0.0.1)."""
    return plugin_app.test_client()


@pytest.fixture()
def recording_app(local_dataverse, plugin_config):
    """A plugin app whose connector records `{url, caller}` (MSCRMCallerID) of every Dataverse request."""
    client = make_client(local_dataverse)
    seen: list[dict[str, str | None]] = []
    client.session.hooks["response"].append(lambda r, *a, **k: seen.append(
        {"url": r.request.url, "caller": r.request.headers.get("MSCRMCallerID")}))
    return create_app(plugin_config, dataverse=client), seen


@pytest.fixture(scope="module")
def world(dataverse_client) -> factories.World:
    """Currency, account, contact, a billing user and a role-0 user."""
    return factories.make_world(dataverse_client)


class Counter:
    """Counts the local Dataverse's HTTP requests and operations between two points."""

    def __init__(self, dv):
        self.dv = dv
        self.start = dv.stats()

    def delta(self) -> dict[str, Any]:
        """Requests/operations since the counter was made."""
        now = self.dv.stats()
        return {k: now[k] - self.start.get(k, 0) for k in ("http_requests", "operations")}


@pytest.fixture()
def counter(local_dataverse):
    """A fresh request counter (reads `/_admin/stats`, which is never counted)."""
    return lambda: Counter(local_dataverse)


def count_rows(client, entity_set: str, filter: str | None = None) -> int:
    """How many rows a table has (optionally filtered)."""
    key = {"invoices": "invoiceid"}.get(entity_set, entity_set[:-1] + "id")
    return sum(1 for _ in client.query(entity_set, select=[key], filter=filter))


def execution_context(message_name: str, parameters: list[dict[str, Any]] | None, *,
                      initiating_user_id: str, correlation_id: str | None = None) -> dict[str, Any]:
    """A RemoteExecutionContext as Dataverse posts it for an unbound custom API (research §1.3/§1.6)."""
    import uuid

    return {
        "BusinessUnitId": "1f8f1c2a-0000-0000-0000-000000000001",
        "CorrelationId": correlation_id or str(uuid.uuid4()),
        "Depth": 1,
        "InitiatingUserId": initiating_user_id,
        "InputParameters": parameters if parameters is not None else [],
        "IsExecutingOffline": False, "IsInTransaction": True, "IsOfflinePlayback": False, "IsolationMode": 1,
        "MessageName": message_name,
        "Mode": 0,
        "OperationCreatedOn": "/Date(1735689600000)/",
        "OperationId": "00000000-0000-0000-0000-000000000000",
        "OrganizationId": "7c9e6679-0000-0000-0000-0000000000cc",
        "OrganizationName": "contoso",
        "OutputParameters": [],
        "OwningExtension": {"Id": "e2a4c6f8-0000-0000-0000-0000000000dd", "KeyAttributes": [],
                            "LogicalName": "sdkmessageprocessingstep", "Name": None, "RowVersion": None},
        "ParentContext": None,
        "PostEntityImages": [], "PreEntityImages": [],
        "PrimaryEntityId": "00000000-0000-0000-0000-000000000000",
        "PrimaryEntityName": "none",
        "RequestId": str(uuid.uuid4()),
        "SecondaryEntityName": "none",
        "SharedVariables": [],
        "Stage": 40,
        "UserId": initiating_user_id,
    }


def webhook_headers(message_name: str, key: str | None = WEBHOOK_KEYS[0], correlation_id: str = "",
                    size_exceeded: bool = False) -> dict[str, str]:
    """The headers Dataverse adds (research §1.2), with our HttpHeader auth key."""
    headers = {"Content-Type": "application/json; charset=utf-8", "x-ms-dynamics-organization": "contoso.crm.dynamics.com",
               "x-ms-dynamics-entity-name": "none", "x-ms-dynamics-request-name": message_name,
               "x-ms-correlation-request-id": correlation_id}
    if key is not None:
        headers["x-w365-webhook-key"] = key
    if size_exceeded:
        headers["x-ms-dynamics-msg-size-exceeded"] = "true"
    return headers


@pytest.fixture()
def webhook_payload():
    """`execution_context` as a fixture (for tests outside this conftest's imports)."""
    return execution_context
