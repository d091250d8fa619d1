"""Bulk runs through the API (DESIGN §7): mixed Results, CSV, idempotency, overlapping runs, bulk rows."""
from __future__ import annotations

import csv
import io
import json
import threading
import uuid

import pytest

from connectors.dataverse import odata
from plugin.api.runs import app_runs
from plugin.runs.model import RunRequest, RunRow
from tests import factories
from tests.e2e.conftest import count_rows, execution_context, webhook_headers

AS_OF = "2026-02-01"
MISSING = "00000000-0000-4000-8000-000000000001"


def row(contract_id: str, cycle: str | None = None, trigger: bool = False) -> dict:
    return {"billing_contract_id": contract_id, "cycle": cycle, "trigger_post_invoicing_tasks": trigger}


def start_run(api, rows, wait: float = 60, **body) -> dict:
    response = api.post(f"/api/v1/invoice-runs?wait={wait}", json={"rows": rows, "as_of": AS_OF, **body})
    assert response.status_code == 200, response.get_json()
    return response.get_json()


@pytest.fixture(scope="module")
def contracts(dataverse_client, world):
    """Named contracts for the mixed run."""
    c = dataverse_client
    return {
        "fresh": factories.license_contract(c, world)["contract_id"],
        "empty": factories.create_contract(c, account_id=world.account_id, currency_id=world.currency_id),
        "again": factories.license_contract(c, world, quantity=5, price="20.00")["contract_id"],
    }


def test_mixed_rows_each_get_their_result(api, dataverse_client, contracts):
    first = start_run(api, [row(contracts["again"])])
    earlier = first["rows"][0]["result"]["invoice"]
    assert first["status"] == "completed" and earlier["total"] == "300.00"

    body = start_run(api, [row(contracts["fresh"]), row(contracts["empty"]), row(contracts["again"], "2026-01-01"),
                           row(MISSING), row(contracts["fresh"], "2026-01-15")])
    assert body["status"] == "completed_with_errors"
    assert body["progress"] == {"done": 5, "total": 5}
    assert body["counts"] == {"created": 2, "skipped": 1, "failed": 2}
    fresh, empty, again, missing, bad_cycle = (r["result"] for r in body["rows"])

    assert fresh["status"] == "created" and fresh["invoice"]["total"] == "360.00"
    assert fresh["invoice"]["number"].startswith("INV-") and fresh["existing_invoices"] == []
    assert body["rows"][0]["cycle"] == "2026-01-01" and body["rows"][0]["name"]

    assert (empty["status"], empty["message"], empty["invoice"]) == ("skipped", "nothing to invoice", None)

    assert again["status"] == "created" and again["invoice"]["number"] != earlier["number"]
    assert again["existing_invoices"] == [{"id": earlier["id"], "number": earlier["number"]}]
    assert again["message"] == f"Already invoiced ({earlier['number']}): an additional invoice was created"
    assert {i["invoiceid"] for i in factories.invoices_of(dataverse_client, contracts["again"])} == {
        earlier["id"], again["invoice"]["id"]}

    assert (missing["status"], missing["message"]) == ("failed", "billing contract not found")
    assert bad_cycle["status"] == "failed" and "2026-01-15" in bad_cycle["message"]

    # the same Result, read back from Dataverse alone (run row + run items)
    run = dataverse_client.get("w365_invoiceruns", body["run_id"])
    assert (run["w365_status"], run["w365_mode"], run["w365_source"]) == (3, 2, 1)
    assert (run["w365_total"], run["w365_created"], run["w365_skipped"], run["w365_failed"]) == (5, 2, 1, 2)
    app_runs(api.application).registry._runs.clear()
    again_view = api.get(f"/api/v1/invoice-runs/{body['run_id']}").get_json()
    assert again_view == body


def test_results_csv_matches_the_run(api, contracts):
    body = start_run(api, [row(contracts["empty"]), row(MISSING), row(contracts["again"])])
    response = api.get(f"/api/v1/invoice-runs/{body['run_id']}/results.csv")
    assert response.status_code == 200 and response.mimetype == "text/csv"
    lines = list(csv.reader(io.StringIO(response.get_data(as_text=True))))
    assert lines[0] == ["billing_contract_id", "name", "cycle", "result", "invoice_number", "invoice_total",
                        "currency", "message"]
    expected = [[r["billing_contract_id"], r["name"] or "", r["cycle"] or "", r["result"]["status"],
                 (r["result"]["invoice"] or {}).get("number") or "", (r["result"]["invoice"] or {}).get("total") or "",
                 "USD" if r["result"]["invoice"] else "", r["result"]["message"] or ""] for r in body["rows"]]
    assert lines[1:] == expected
    assert [line[0] for line in lines[1:]] == [contracts["empty"], MISSING, contracts["again"]]


def test_role_zero_user_fails_with_reason_and_retry_reruns_only_failed_rows(
        api, dataverse_client, world, contracts):
    target = factories.license_contract(dataverse_client, world)["contract_id"]
    rows = json.dumps([{"billingContractId": target, "triggerPostInvoicingTasks": False},
                       {"billingContractId": contracts["empty"], "triggerPostInvoicingTasks": False}])
    payload = execution_context("w365_GenerateInvoices", [{"key": "RunId", "value": str(uuid.uuid4())},
                                                          {"key": "Rows", "value": rows}],
                                initiating_user_id=world.no_role_user["systemuserid"])
    response = api.post("/api/v1/webhooks/dataverse", data=json.dumps(payload),
                        headers=webhook_headers("w365_GenerateInvoices"))
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    failed, skipped = (r["result"] for r in body["rows"])
    assert failed["status"] == "failed" and "privilege" in failed["message"]
    assert skipped["status"] == "skipped"
    assert factories.invoices_of(dataverse_client, target) == []
    schedule = dataverse_client.get_by_key("w365_billingschedules", {"_w365_billingcontract_value": target,
                                                                     "w365_cyclestart": "2026-01-01"})
    assert schedule["statuscode"] == 2 and "privilege" in schedule["w365_message"]
    items_before = {i["w365_rowindex"]: i for i in dataverse_client.query(
        "w365_invoicerunitems", filter=odata.eq("_w365_invoicerun_value", body["run_id"]))}

    retried = api.post(f"/api/v1/invoice-runs/{body['run_id']}/retry?wait=60", json={})
    assert retried.status_code == 200, retried.get_json()
    after = retried.get_json()
    assert after["run_id"] == body["run_id"] and after["status"] == "completed"
    assert [r["result"]["status"] for r in after["rows"]] == ["created", "skipped"]
    assert len(factories.invoices_of(dataverse_client, target)) == 1
    items_after = {i["w365_rowindex"]: i for i in dataverse_client.query(
        "w365_invoicerunitems", filter=odata.eq("_w365_invoicerun_value", body["run_id"]))}
    assert items_after[1]["w365_invoicerunitemid"] == items_before[1]["w365_invoicerunitemid"]
    assert items_after[0]["w365_result"] == 1 and len(items_after) == 2
    run = dataverse_client.get("w365_invoiceruns", body["run_id"])
    assert (run["w365_status"], run["w365_created"], run["w365_skipped"], run["w365_failed"]) == (2, 1, 1, 0)
    schedule = dataverse_client.get_by_key("w365_billingschedules", {"_w365_billingcontract_value": target,
                                                                     "w365_cyclestart": "2026-01-01"})
    assert schedule["statuscode"] == 3

    nothing_to_do = api.post(f"/api/v1/invoice-runs/{body['run_id']}/retry?wait=5", json={})
    assert nothing_to_do.status_code == 200 and nothing_to_do.get_json()["counts"]["created"] == 1
    assert len(factories.invoices_of(dataverse_client, target)) == 1


def test_same_idempotency_key_twice_creates_nothing_new(api, dataverse_client, world):
    target = factories.license_contract(dataverse_client, world)["contract_id"]
    key = {"Idempotency-Key": f"bulk-{uuid.uuid4()}"}
    payload = {"rows": [row(target)], "as_of": AS_OF}
    first = api.post("/api/v1/invoice-runs?wait=60", json=payload, headers=key)
    assert first.status_code == 200
    runs_before = count_rows(dataverse_client, "w365_invoiceruns")
    again = api.post("/api/v1/invoice-runs?wait=60", json=payload, headers=key)
    assert again.status_code == 200 and again.get_json()["run_id"] == first.get_json()["run_id"]
    assert again.get_json()["rows"] == first.get_json()["rows"]
    assert len(factories.invoices_of(dataverse_client, target)) == 1
    assert count_rows(dataverse_client, "w365_invoiceruns") == runs_before
    other = api.post("/api/v1/invoice-runs", json={"rows": [row(MISSING)]}, headers=key)
    assert other.status_code == 409 and other.get_json()["error"]["code"] == "idempotency_key_reused"


def test_overlapping_runs_invoice_each_cycle_once(plugin_app, dataverse_client, world):
    ids = [factories.license_contract(dataverse_client, world)["contract_id"] for _ in range(6)]
    service = app_runs(plugin_app)
    barrier = threading.Barrier(2)
    run_ids: list[str] = []

    def run(selection: list[str]) -> None:
        request = RunRequest(rows=tuple(RunRow(i, cid, "2026-01-01", False) for i, cid in enumerate(selection)),
                             on_existing="skip")
        barrier.wait()
        run_ids.append(service.start(request))

    threads = [threading.Thread(target=run, args=(ids[:4],)), threading.Thread(target=run, args=(ids[2:],))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    views = [service.wait(run_id, 60) for run_id in run_ids]
    assert all(v.finished for v in views)
    created = [r.outcome.invoice["id"] for v in views for r in v.results if r.status == "created"]
    assert len(created) == 6 and len(set(created)) == 6
    for cid in ids:
        assert len(factories.invoices_of(dataverse_client, cid)) == 1
    others = [r.outcome for v in views for r in v.results if r.status != "created"]
    assert len(others) == 2 and all(o.status == "skipped" for o in others)
    assert all("invoiced concurrently by INV-" in o.message or o.message.startswith("Already invoiced (INV-")
               for o in others)


def test_bulk_rows_for_many_ids(api, dataverse_client, world, contracts):
    ids = [contracts["fresh"], contracts["empty"]] + [str(uuid.uuid4()) for _ in range(258)]
    by_query = api.get(f"/api/v1/bulk/rows?ids={','.join(ids)}&as_of={AS_OF}")
    by_body = api.post("/api/v1/bulk/rows", json={"ids": ids, "as_of": AS_OF})
    assert by_query.status_code == by_body.status_code == 200
    assert by_query.get_json() == by_body.get_json()
    body = by_body.get_json()
    assert [r["billing_contract_id"] for r in body["rows"]] == ids[:2]
    assert len(body["not_found"]) == 258
    fresh = body["rows"][0]
    assert fresh["automations"] == {"send": False, "sync": False, "charge": False}
    assert fresh["default_cycle"] == "2026-04-01"  # 2026-01-01 was invoiced by the mixed run
    assert [c["key"] for c in fresh["cycles"]][:2] == ["2026-01-01", "2026-04-01"]
    assert fresh["cycles"][0]["status"] == "invoiced" and fresh["cycles"][0]["invoices"]


@pytest.mark.parametrize("payload, status, code", [
    ({"rows": []}, 422, "validation_error"),
    ({"rows": [{"billing_contract_id": "nope", "trigger_post_invoicing_tasks": False}]}, 422, "validation_error"),
    ({"rows": [{"billing_contract_id": MISSING}]}, 422, "validation_error"),
    ({"rows": [row(MISSING)], "source": "webhook"}, 422, "validation_error"),
    ({"rows": [row(MISSING)], "on_existing": "replace"}, 422, "validation_error"),
    ([1, 2], 400, "malformed_json"),
])
def test_bad_run_requests_are_4xx(api, payload, status, code):
    response = api.post("/api/v1/invoice-runs", json=payload)
    assert response.status_code == status and response.get_json()["error"]["code"] == code


def test_unknown_runs_and_bad_rows_queries(api):
    assert api.get(f"/api/v1/invoice-runs/{uuid.uuid4()}").status_code == 404
    assert api.get("/api/v1/invoice-runs/nope/results.csv").get_json()["error"]["code"] == "not_found"
    assert api.post(f"/api/v1/invoice-runs/{uuid.uuid4()}/retry", json={}).status_code == 404
    assert api.get("/api/v1/bulk/rows?ids=a,b").status_code == 422
    assert api.get("/api/v1/bulk/rows").status_code == 422
    assert api.post("/api/v1/bulk/rows", json={"ids": []}).status_code == 422


def test_openapi_documents_the_bulk_paths(api):
    paths = api.get("/api/v1/openapi.json").get_json()["paths"]
    for path in ("/api/v1/bulk/rows", "/api/v1/invoice-runs", "/api/v1/invoice-runs/{run_id}",
                 "/api/v1/invoice-runs/{run_id}/results.csv", "/api/v1/invoice-runs/{run_id}/retry"):
        assert path in paths, path
