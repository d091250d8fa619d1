"""A delivery built from what `w365 register` stored reaches the plugin and is authenticated with its key."""
from __future__ import annotations

import json
import uuid
import xml.etree.ElementTree as ET

import pytest
from click.testing import CliRunner

from connectors.dataverse import odata
from plugin.app import create_app
from plugin.cli import main
from plugin.config import Config
from plugin.registration import spec
from tests.factories import license_contract, make_world

URL = "http://127.0.0.1:5000/api/v1/webhooks/dataverse"
KEY = "registered-key-" + uuid.uuid4().hex


@pytest.fixture(scope="module")
def registered(local_dataverse, dataverse_client, tmp_path_factory):
    """Register against the module's local Dataverse; return the stored endpoint and steps."""
    env = {"W365_DATAVERSE_URL": local_dataverse.url, "W365_DATAVERSE_TOKEN": "local-dev-token",
           "W365_WEBHOOK_KEYS": ""}
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(tmp_path_factory.mktemp("cli"))  # no `.env` of the working tree
        result = CliRunner().invoke(main, ["register", "--url", URL, "--webhook-key", KEY], env=env,
                               catch_exceptions=False)
    assert result.exit_code == 0, result.output
    (endpoint,) = dataverse_client.query("serviceendpoints", select=["serviceendpointid", "url"],
                                         filter=odata.eq("name", spec.ENDPOINT_NAME))
    steps = list(dataverse_client.query("sdkmessageprocessingsteps",
                                        select=["sdkmessageprocessingstepid", "stage", "mode", "_sdkmessageid_value"],
                                        filter=odata.eq("_eventhandler_value", endpoint["serviceendpointid"])))
    messages = {m["sdkmessageid"]: m["name"] for m in dataverse_client.query_in(
        "sdkmessages", "sdkmessageid", [s["_sdkmessageid_value"] for s in steps], select=["sdkmessageid", "name"])}
    # authvalue is write-only on the Web API: read what was stored from the local Dataverse's own table
    stored = local_dataverse.store.fetch(local_dataverse.store.tables["serviceendpoints"], endpoint["serviceendpointid"])
    setting = ET.fromstring(stored["authvalue"]).find("setting")
    return {"endpoint": endpoint, "header": (setting.get("name"), setting.get("value")),
            "steps": {messages[s["_sdkmessageid_value"]]: s for s in steps}}


@pytest.fixture(scope="module")
def plugin_client(local_dataverse):
    config = Config(dataverse_url=local_dataverse.url, dataverse_token="local-dev-token", webhook_keys=(KEY,))
    return create_app(config).test_client()


def _context(message: str, step: dict, user_id: str, parameters: dict) -> dict:
    """A RemoteExecutionContext as Dataverse posts it for an unbound custom API message (brief §1.3, §1.6)."""
    correlation = str(uuid.uuid4())
    return {
        "BusinessUnitId": str(uuid.uuid4()), "CorrelationId": correlation, "Depth": 1,
        "InitiatingUserId": user_id, "UserId": user_id,
        "InputParameters": [{"key": k, "value": v} for k, v in parameters.items()],
        "IsExecutingOffline": False, "IsInTransaction": True, "IsOfflinePlayback": False, "IsolationMode": 1,
        "MessageName": message, "Mode": step["mode"], "OperationCreatedOn": "/Date(1767225600000)/",
        "OperationId": str(uuid.uuid4()), "OrganizationId": str(uuid.uuid4()), "OrganizationName": "local",
        "OutputParameters": [],
        "OwningExtension": {"Id": step["sdkmessageprocessingstepid"], "KeyAttributes": [],
                            "LogicalName": "sdkmessageprocessingstep", "Name": None, "RowVersion": None},
        "ParentContext": None, "PostEntityImages": [], "PreEntityImages": [],
        "PrimaryEntityId": "00000000-0000-0000-0000-000000000000", "PrimaryEntityName": "none",
        "RequestId": str(uuid.uuid4()), "SecondaryEntityName": "none", "SharedVariables": [],
        "Stage": step["stage"],
    }


def _post(client, context: dict, headers: dict):
    return client.post("/api/v1/webhooks/dataverse", data=json.dumps(context), headers={
        "Content-Type": "application/json; charset=utf-8", "x-ms-dynamics-organization": "local.crm.dynamics.com",
        "x-ms-dynamics-entity-name": "none", "x-ms-dynamics-request-name": context["MessageName"],
        "x-ms-correlation-request-id": context["CorrelationId"], **headers})


def test_registered_authvalue_names_the_header_the_plugin_checks(registered):
    assert registered["header"] == (spec.WEBHOOK_HEADER, KEY)
    assert set(registered["steps"]) == {api.uniquename for api in spec.CUSTOM_APIS}


def test_single_invoice_delivery_is_authenticated_with_the_registered_key(registered, plugin_client,
                                                                          dataverse_client):
    world = make_world(dataverse_client)
    contract = license_contract(dataverse_client, world)
    message = "w365_GenerateInvoice"
    context = _context(message, registered["steps"][message], world.billing_user["systemuserid"],
                       {"BillingContractId": contract["contract_id"], "Cycle": "2026-01-01"})
    name, value = registered["header"]

    wrong = _post(plugin_client, context, {name: value + "x"})
    assert wrong.status_code == 401 and wrong.get_json()["error"]["code"] == "unauthorized"
    assert list(dataverse_client.query("invoices", select=["invoiceid"],
                                       filter=odata.eq("_w365_billingcontract_value", contract["contract_id"]))) == []

    ok = _post(plugin_client, context, {name: value})
    assert ok.status_code == 200, ok.get_data(as_text=True)
    assert ok.get_json()["result"]["status"] == "created"


def test_bulk_delivery_is_authenticated_with_the_registered_key(registered, plugin_client, dataverse_client):
    world = make_world(dataverse_client)
    contract = license_contract(dataverse_client, world)
    message = "w365_GenerateInvoices"
    context = _context(message, registered["steps"][message], world.billing_user["systemuserid"],
                       {"RunId": str(uuid.uuid4()), "BillingContractIds": [contract["contract_id"]],
                        "TriggerPostInvoicingTasks": False})
    name, value = registered["header"]
    assert _post(plugin_client, context, {}).status_code == 401
    ok = _post(plugin_client, context, {name: value})
    assert ok.status_code == 200, ok.get_data(as_text=True)
