"""`w365_GenerateInvoices` through the Dataverse webhook (DESIGN §8)."""
from __future__ import annotations

import json
import time
import uuid

import pytest

from connectors.dataverse import odata
from plugin.app import create_app
from tests import factories
from tests.conftest import make_client
from tests.e2e.conftest import count_rows, execution_context, webhook_headers

URL = "/api/v1/webhooks/dataverse"
MESSAGE = "w365_GenerateInvoices"


def post(api, params, user: str, *, size_exceeded: bool = False):
    payload = execution_context(MESSAGE, params, initiating_user_id=user)
    return api.post(URL, data=json.dumps(payload),
                    headers=webhook_headers(MESSAGE, correlation_id=payload["CorrelationId"],
                                            size_exceeded=size_exceeded))


def rows_param(*contract_ids: str, trigger: bool = False) -> dict:
    return {"key": "Rows", "value": json.dumps([{"billingContractId": cid, "triggerPostInvoicingTasks": trigger}
                                                for cid in contract_ids])}


def items_of(client, run_id: str) -> list[dict]:
    return list(client.query("w365_invoicerunitems", filter=odata.eq("_w365_invoicerun_value", run_id)))


def test_rows_run_as_the_initiating_user_and_a_redelivery_changes_nothing(recording_app, dataverse_client, world):
    app, seen = recording_app
    api = app.test_client()
    user = world.billing_user["systemuserid"]
    a = factories.license_contract(dataverse_client, world)["contract_id"]
    b = factories.license_contract(dataverse_client, world)["contract_id"]
    run_key = str(uuid.uuid4())
    params = [{"key": "RunId", "value": run_key}, rows_param(a, b)]
    response = post(api, params, user)
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert body["status"] == "completed" and body["run_key"] == run_key
    assert [r["result"]["status"] for r in body["rows"]] == ["created", "created"]
    calls = [s["caller"] for s in seen if "/api/data/" in s["url"]]
    assert calls and all(caller == user for caller in calls)
    run = dataverse_client.get("w365_invoiceruns", body["run_id"])
    assert (run["w365_runkey"], run["w365_source"], run["w365_mode"]) == (run_key, 2, 2)
    assert run["_w365_initiatinguser_value"] == user

    counts = {s: count_rows(dataverse_client, s) for s in ("invoices", "w365_invoiceruns", "w365_invoicerunitems")}
    again = post(api, params, user)
    assert again.status_code == 200 and again.get_json() == body
    assert {s: count_rows(dataverse_client, s) for s in counts} == counts


def test_contract_ids_with_the_post_task_flag(api, dataverse_client, world):
    a = factories.license_contract(dataverse_client, world, autosync=True)["contract_id"]
    response = post(api, [{"key": "RunId", "value": str(uuid.uuid4())},
                          {"key": "BillingContractIds", "value": [a.upper()]},
                          {"key": "TriggerPostInvoicingTasks", "value": True}], world.billing_user["systemuserid"])
    assert response.status_code == 200, response.get_json()
    row = response.get_json()["rows"][0]
    assert row["trigger_post_invoicing_tasks"] is True and row["result"]["status"] == "created"
    tasks = list(dataverse_client.query("w365_postinvoicetasks",
                                        filter=odata.eq("_w365_invoice_value", row["result"]["invoice"]["id"])))
    assert [t["w365_tasktype"] for t in tasks] == [2]
    assert [t["task"] for t in row["result"]["post_tasks"]] == ["sync"]


def _script_writes_run(client, run_key: str, user: str, contract_ids: list[str]) -> str:
    """What the command script does before calling the API with a payload too large for the webhook."""
    return client.create("w365_invoiceruns", {
        "w365_name": "bulk from the grid", "w365_runkey": run_key,
        "w365_requestjson": json.dumps([{"billingContractId": c, "triggerPostInvoicingTasks": False}
                                        for c in contract_ids]),
        "w365_InitiatingUser@odata.bind": f"/systemusers({user})",
    })


def test_size_exceeded_reads_the_rows_from_the_run_row(api, dataverse_client, world):
    user = world.billing_user["systemuserid"]
    ids = [factories.license_contract(dataverse_client, world)["contract_id"] for _ in range(2)]
    run_key = str(uuid.uuid4())
    run_id = _script_writes_run(dataverse_client, run_key, user, ids)
    response = post(api, [{"key": "RunId", "value": run_key}], user, size_exceeded=True)
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert body["run_id"] == run_id and [r["billing_contract_id"] for r in body["rows"]] == ids
    assert [r["result"]["status"] for r in body["rows"]] == ["created", "created"]
    assert len(items_of(dataverse_client, run_id)) == 2


def test_stripped_parameters_find_the_users_waiting_run(api, dataverse_client, world):
    user = world.billing_user["systemuserid"]
    ids = [factories.license_contract(dataverse_client, world)["contract_id"]]
    run_id = _script_writes_run(dataverse_client, str(uuid.uuid4()), user, ids)
    response = post(api, [], user, size_exceeded=True)
    assert response.status_code == 200, response.get_json()
    assert response.get_json()["run_id"] == run_id
    assert response.get_json()["rows"][0]["result"]["status"] == "created"
    again = post(api, [], user, size_exceeded=True)
    assert again.status_code == 400  # nothing waits any more: the run was claimed


def test_a_long_run_answers_in_budget_and_completes_in_dataverse(local_dataverse, plugin_config, dataverse_client,
                                                                  world):
    app = create_app(plugin_config.with_overrides(webhook_budget_s=3.2), dataverse=make_client(local_dataverse))
    ids = [factories.license_contract(dataverse_client, world)["contract_id"] for _ in range(3)]
    local_dataverse.set_faults(latency_ms=400)
    try:
        response = post(app.test_client(), [{"key": "RunId", "value": str(uuid.uuid4())}, rows_param(*ids)],
                        world.billing_user["systemuserid"])
    finally:
        local_dataverse.set_faults(latency_ms=0)
    assert response.status_code == 200
    body = response.get_json()
    assert body["status"] == "running" and body["progress"]["done"] < 3
    assert {r["result"]["status"] for r in body["rows"]} <= {"pending", "created"}
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        run = dataverse_client.get("w365_invoiceruns", body["run_id"])
        if run["w365_status"] != 1:
            break
        time.sleep(0.2)
    assert run["w365_status"] == 2 and run["w365_created"] == 3
    assert {i["w365_result"] for i in items_of(dataverse_client, body["run_id"])} == {1}


@pytest.mark.parametrize("params", [
    [rows_param(str(uuid.uuid4()))],                                               # no RunId
    [{"key": "RunId", "value": "r-1"}, {"key": "Rows", "value": "not json"}],
    [{"key": "RunId", "value": "r-2"}, {"key": "Rows", "value": json.dumps([{"cycle": "x"}])}],
    [{"key": "RunId", "value": f"r-{uuid.uuid4()}"}],                              # no rows anywhere
])
def test_malformed_payloads_are_400(api, world, params):
    response = post(api, params, world.billing_user["systemuserid"])
    assert response.status_code == 400 and response.get_json()["error"]["code"] == "malformed_payload"


def test_unauthenticated_calls_are_401(api, world):
    payload = execution_context(MESSAGE, [{"key": "RunId", "value": "x"}],
                                initiating_user_id=world.billing_user["systemuserid"])
    response = api.post(URL, data=json.dumps(payload), headers=webhook_headers(MESSAGE, key="wrong"))
    assert response.status_code == 401
