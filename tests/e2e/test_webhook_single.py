"""`w365_GenerateInvoice` through the Dataverse webhook (DESIGN §8), with realistic payloads."""
from __future__ import annotations

import json
import uuid

import pytest

from connectors.dataverse import odata
from tests import factories
from tests.e2e.conftest import WEBHOOK_KEYS, count_rows, execution_context, webhook_headers

URL = "/api/v1/webhooks/dataverse"
MESSAGE = "w365_GenerateInvoice"


def _params(contract_id, cycle=None, on_existing=None):
    params = [{"key": "BillingContractId", "value": contract_id}]
    if cycle is not None:
        params.append({"key": "Cycle", "value": cycle})
    if on_existing is not None:
        params.append({"key": "OnExisting", "value": on_existing})
    return params


def _post(api, payload, **header_options):
    return api.post(URL, data=json.dumps(payload),
                    headers=webhook_headers(MESSAGE, correlation_id=payload.get("CorrelationId", ""), **header_options))


def test_generates_as_the_initiating_user_on_every_request(recording_app, dataverse_client, world):
    app, seen = recording_app
    ids = factories.license_contract(dataverse_client, world, start="2026-01-01")
    user = world.billing_user["systemuserid"]
    payload = execution_context(MESSAGE, _params(ids["contract_id"], "2026-01-01"), initiating_user_id=user)
    response = _post(app.test_client(), payload)
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert body["result"]["status"] == "created" and body["result"]["invoice"]["number"].startswith("INV-")
    dataverse_calls = [s for s in seen if "/api/data/" in s["url"]]
    assert dataverse_calls and all(s["caller"] == user for s in dataverse_calls)
    run = dataverse_client.get("w365_invoiceruns", body["run_id"])
    assert (run["w365_mode"], run["w365_source"], run["w365_runkey"]) == (1, 2, payload["CorrelationId"])
    assert run["_w365_initiatinguser_value"] == user
    item = next(iter(dataverse_client.query("w365_invoicerunitems",
                                            filter=odata.eq("_w365_invoicerun_value", body["run_id"]))))
    assert item["w365_correlationid"] == payload["CorrelationId"] and item["w365_result"] == 1


def test_redelivery_of_the_same_correlation_id_creates_and_changes_nothing(api, dataverse_client, world, counter):
    ids = factories.license_contract(dataverse_client, world, start="2026-01-01")
    payload = execution_context(MESSAGE, _params(ids["contract_id"]),
                                initiating_user_id=world.billing_user["systemuserid"])
    first = _post(api, payload)
    assert first.status_code == 200 and first.get_json()["result"]["status"] == "created"
    before = {s: count_rows(dataverse_client, s) for s in ("invoices", "w365_invoiceruns", "w365_invoicerunitems")}
    count = counter()
    again = _post(api, payload)
    assert again.status_code == 200 and again.get_json() == first.get_json()
    assert {s: count_rows(dataverse_client, s) for s in before} == before
    assert count.delta()["operations"] == count.delta()["http_requests"]  # reads only: no batch writes


def test_keys_rotation_query_code_and_401s(api, dataverse_client, world):
    ids = factories.license_contract(dataverse_client, world, start="2026-01-01")
    user = world.billing_user["systemuserid"]
    payload = execution_context(MESSAGE, _params(ids["contract_id"], "2026-01-01"), initiating_user_id=user)
    before = count_rows(dataverse_client, "w365_invoiceruns")
    for headers in (webhook_headers(MESSAGE, key=None), webhook_headers(MESSAGE, key="wrong"),
                    webhook_headers(MESSAGE, key=WEBHOOK_KEYS[0] + "x"), webhook_headers(MESSAGE, key="")):
        response = api.post(URL, data=json.dumps(payload), headers=headers)
        assert response.status_code == 401 and response.get_json()["error"]["code"] == "unauthorized"
    assert api.post(URL + "?code=nope", data=json.dumps(payload),
                    headers=webhook_headers(MESSAGE, key=None)).status_code == 401
    assert count_rows(dataverse_client, "w365_invoiceruns") == before
    new_key = api.post(URL, data=json.dumps(payload), headers=webhook_headers(MESSAGE, key=WEBHOOK_KEYS[1]))
    assert new_key.status_code == 200 and new_key.get_json()["result"]["status"] == "created"
    payload2 = execution_context(MESSAGE, _params(ids["contract_id"], "2026-04-01"), initiating_user_id=user)
    by_code = api.post(f"{URL}?code={WEBHOOK_KEYS[0]}", data=json.dumps(payload2),
                       headers=webhook_headers(MESSAGE, key=None))
    assert by_code.status_code == 200 and by_code.get_json()["result"]["cycle"] == "2026-04-01"


def test_size_exceeded_and_failures_answer_200_with_the_result(api, dataverse_client, world):
    user = world.billing_user["systemuserid"]
    stripped = execution_context(MESSAGE, None, initiating_user_id=user)
    for key in ("InputParameters", "ParentContext", "PreEntityImages", "PostEntityImages"):
        stripped.pop(key)
    response = _post(api, stripped, size_exceeded=True)
    assert response.status_code == 200
    assert response.get_json()["result"]["status"] == "failed" and "256 KB" in response.get_json()["result"]["message"]
    unknown = execution_context(MESSAGE, _params(str(uuid.uuid4())), initiating_user_id=user)
    response = _post(api, unknown)
    assert response.status_code == 200 and response.get_json()["result"]["status"] == "failed"
    assert "does not exist" in response.get_json()["result"]["message"]
    ids = factories.license_contract(dataverse_client, world, start="2026-01-01")
    bad_cycle = execution_context(MESSAGE, _params(ids["contract_id"], "2026-01-05"), initiating_user_id=user)
    response = _post(api, bad_cycle)
    assert response.status_code == 200 and response.get_json()["error"]["code"] == "unknown_cycle"


def test_role_zero_user_gets_a_failed_run_item_and_an_error_schedule_but_no_invoice(api, dataverse_client, world):
    ids = factories.license_contract(dataverse_client, world, start="2026-01-01")
    invoices_before = count_rows(dataverse_client, "invoices")
    payload = execution_context(MESSAGE, _params(ids["contract_id"], "2026-01-01"),
                                initiating_user_id=world.no_role_user["systemuserid"])
    response = _post(api, payload)
    assert response.status_code == 200
    body = response.get_json()
    result = body["result"]
    assert result["status"] == "failed" and "privilege" in result["message"]
    assert count_rows(dataverse_client, "invoices") == invoices_before
    run = dataverse_client.get("w365_invoiceruns", body["run_id"])
    assert run["_w365_initiatinguser_value"] == world.no_role_user["systemuserid"] and run["w365_failed"] == 1
    item = next(iter(dataverse_client.query("w365_invoicerunitems",
                                            filter=odata.eq("_w365_invoicerun_value", body["run_id"]))))
    assert item["w365_result"] == 3 and "privilege" in item["w365_message"]
    schedule = dataverse_client.get_by_key("w365_billingschedules", {"_w365_billingcontract_value": ids["contract_id"],
                                                                     "w365_cyclestart": "2026-01-01"})
    assert schedule["statuscode"] == 2 and "privilege" in schedule["w365_message"]
    assert dataverse_client.get("w365_licensechangelogs", ids["change_log_id"], select=["statuscode"])["statuscode"] == 1


@pytest.mark.parametrize("initiating", [None, "absent"])
def test_a_call_without_initiating_user_is_400_and_writes_nothing(api, dataverse_client, world, initiating, counter):
    ids = factories.license_contract(dataverse_client, world, start="2026-01-01")
    payload = execution_context(MESSAGE, _params(ids["contract_id"]), initiating_user_id=None)
    if initiating == "absent":
        del payload["InitiatingUserId"]
    payload["UserId"] = world.billing_user["systemuserid"]
    count = counter()
    response = _post(api, payload)
    assert response.status_code == 400 and "InitiatingUserId" in response.get_json()["error"]["message"]
    assert count.delta() == {"http_requests": 0, "operations": 0}


@pytest.mark.parametrize("mutate, status", [
    (lambda p: "not json", 400),
    (lambda p: [p], 400),
    (lambda p: {k: v for k, v in p.items() if k != "MessageName"}, 400),
    (lambda p: {**p, "MessageName": "w365_Unknown"}, 400),
    (lambda p: {**p, "InputParameters": [{"key": "BillingContractId", "value": "not-a-guid"}]}, 400),
    (lambda p: {**p, "InputParameters": [{"key": "Cycle", "value": "2026-01-01"}]}, 400),
    (lambda p: {**p, "InputParameters": {"BillingContractId": 5}}, 400),
    (lambda p: {**p, "InputParameters": "x"}, 400),
    (lambda p: {**p, "OperationCreatedOn": "yesterday"}, 400),
    (lambda p: {**p, "OperationCreatedOn": "/Date(99999999999999999999)/"}, 400),
    (lambda p: {**p, "OperationCreatedOn": "/Date(-99999999999999999999+0100)/"}, 400),
    (lambda p: {**p, "CorrelationId": "nope"}, 400),
    (lambda p: {**p, "InputParameters": p["InputParameters"] + [{"key": "OnExisting", "value": "maybe"}]}, 400),
])
def test_malformed_payloads_are_400_and_write_nothing(api, world, mutate, status, counter):
    payload = execution_context(MESSAGE, _params(str(uuid.uuid4())),
                                initiating_user_id=world.billing_user["systemuserid"])
    body = mutate(payload)
    count = counter()
    response = api.post(URL, data=body if isinstance(body, str) else json.dumps(body),
                        headers=webhook_headers(MESSAGE))
    assert response.status_code == status
    assert set(response.get_json()["error"]) == {"code", "message", "details"}
    assert count.delta() == {"http_requests": 0, "operations": 0}


def test_unknown_keys_and_typed_values_are_tolerated(api, dataverse_client, world):
    ids = factories.license_contract(dataverse_client, world, start="2026-01-01")
    payload = execution_context(MESSAGE, _params(ids["contract_id"], "2026-01-01", "create_additional"),
                                initiating_user_id=world.billing_user["systemuserid"])
    payload["SomethingNew"] = {"nested": [1, 2]}
    payload["SharedVariables"] = [{"key": "IsAutoTransact", "value": True,
                                   "__type": "KeyValuePairOfstringanyType:#System.Collections.Generic"}]
    payload["ParentContext"] = execution_context("Create", [], initiating_user_id=world.billing_user["systemuserid"])
    payload["OperationCreatedOn"] = "/Date(1506409448000-0700)/"
    response = _post(api, payload)
    assert response.status_code == 200 and response.get_json()["result"]["status"] == "created"
