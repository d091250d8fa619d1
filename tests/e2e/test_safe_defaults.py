"""Safe by default: JSON-only POSTs, Item Based contracts without a frequency, money read back exactly."""
from __future__ import annotations

import csv
import io
import json

import pytest

from plugin.app import create_app
from tests import factories
from tests.e2e.conftest import count_rows, execution_context, webhook_headers

AS_OF = "2026-02-01"


def _rows(contract_id: str) -> dict:
    return {"rows": [{"billing_contract_id": contract_id, "trigger_post_invoicing_tasks": False}], "as_of": AS_OF}


POSTS = [
    ("/api/v1/invoices/preview", lambda cid: {"billing_contract_id": cid}),
    ("/api/v1/invoices", lambda cid: {"billing_contract_id": cid}),
    ("/api/v1/bulk/rows", lambda cid: {"ids": [cid]}),
    ("/api/v1/invoice-runs", _rows),
    ("/api/v1/invoice-runs/{run}/retry", lambda cid: {}),
    ("/api/v1/webhooks/dataverse", None),
]
NOT_JSON = [
    ("text/plain", lambda body: json.dumps(body)),
    ("text/plain;charset=UTF-8", lambda body: json.dumps(body)),
    ("application/x-www-form-urlencoded", lambda body: "billing_contract_id=x"),
    ("multipart/form-data; boundary=xyz", lambda body: "--xyz--\r\n"),
    (None, lambda body: json.dumps(body)),
]


@pytest.mark.parametrize("path, make", POSTS)
@pytest.mark.parametrize("content_type, encode", NOT_JSON)
def test_every_post_route_refuses_bodies_that_are_not_json(api, dataverse_client, world, counter,
                                                           path, make, content_type, encode):
    contract = factories.license_contract(dataverse_client, world)["contract_id"]
    if make is None:
        body = execution_context("w365_GenerateInvoice", [{"key": "BillingContractId", "value": contract}],
                                 initiating_user_id=world.billing_user["systemuserid"])
        headers = {k: v for k, v in webhook_headers("w365_GenerateInvoice").items() if k != "Content-Type"}
    else:
        body, headers = make(contract), {}
    run = api.post("/api/v1/invoice-runs?wait=30", json=_rows(contract)).get_json()["run_id"]
    before = {s: count_rows(dataverse_client, s) for s in ("invoices", "w365_invoiceruns")}
    if content_type:
        headers["Content-Type"] = content_type
    count = counter()
    response = api.post(path.format(run=run), data=encode(body), headers=headers)
    assert response.status_code == 415, response.get_data(as_text=True)
    assert response.get_json()["error"]["code"] == "unsupported_media_type"
    assert count.delta() == {"http_requests": 0, "operations": 0}
    assert {s: count_rows(dataverse_client, s) for s in before} == before


def test_json_with_a_charset_is_accepted(api, dataverse_client, world):
    contract = factories.license_contract(dataverse_client, world)["contract_id"]
    response = api.post("/api/v1/invoices/preview", data=json.dumps({"billing_contract_id": contract}),
                        headers={"Content-Type": "application/json; charset=utf-8"})
    assert response.status_code == 200


def test_item_based_contract_without_frequency_offers_one_time(api, dataverse_client, world):
    contract = factories.create_contract(dataverse_client, account_id=world.account_id,
                                         currency_id=world.currency_id, type=2, billingfrequency=None)
    factories.create_nri(dataverse_client, contract, effective="2026-01-10", name="Setup")
    cycles = api.get(f"/api/v1/billing-contracts/{contract}/cycles?as_of={AS_OF}")
    assert cycles.status_code == 200, cycles.get_json()
    assert [c["key"] for c in cycles.get_json()["cycles"]] == ["one-time"]
    assert cycles.get_json()["default"] == "one-time"
    preview = api.post("/api/v1/invoices/preview", json={"billing_contract_id": contract, "as_of": AS_OF})
    assert preview.status_code == 200, preview.get_json()
    assert preview.get_json()["invoice_category"] == "One-Time" and len(preview.get_json()["lines"]) == 1


def test_zero_decimal_money_stays_exact_when_a_run_is_read_back(api, plugin_config, dataverse_client):
    yen = factories.make_world(dataverse_client, currency="JPY", precision=0)
    contract = factories.license_contract(dataverse_client, yen, quantity=3, price="704813.67")["contract_id"]
    started = api.post("/api/v1/invoice-runs?wait=60", json=_rows(contract)).get_json()
    assert started["rows"][0]["result"]["invoice"]["total"] == "6343323"
    other_process = create_app(plugin_config, dataverse=dataverse_client).test_client()  # no live state there
    read_back = other_process.get(f"/api/v1/invoice-runs/{started['run_id']}").get_json()
    assert read_back["rows"][0]["result"]["invoice"]["total"] == "6343323"
    lines = list(csv.reader(io.StringIO(other_process.get(
        f"/api/v1/invoice-runs/{started['run_id']}/results.csv").get_data(as_text=True))))
    assert lines[0][6] == "currency" and lines[1][5:7] == ["6343323", "JPY"]
