"""Rows of one run that repeat an earlier row's (contract, cycle) are skipped, never invoiced twice."""
from __future__ import annotations

import json
import uuid

from tests import factories
from tests.e2e.conftest import execution_context, webhook_headers

AS_OF = "2026-02-01"


def row(contract_id: str, cycle: str | None = None) -> dict:
    return {"billing_contract_id": contract_id, "cycle": cycle, "trigger_post_invoicing_tasks": False}


def run(api, rows) -> dict:
    response = api.post("/api/v1/invoice-runs?wait=60", json={"rows": rows, "as_of": AS_OF})
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def test_fifty_identical_rows_make_one_invoice(api, dataverse_client, world):
    contract = factories.license_contract(dataverse_client, world)["contract_id"]
    body = run(api, [row(contract)] * 50)
    results = [r["result"] for r in body["rows"]]
    assert results[0]["status"] == "created"
    assert all(r["status"] == "skipped" and r["message"] == "duplicate of row 1" for r in results[1:])
    assert body["counts"] == {"created": 1, "skipped": 49, "failed": 0}
    assert len(factories.invoices_of(dataverse_client, contract)) == 1


def test_a_row_without_cycle_means_the_default_at_the_runs_start(api, dataverse_client, world):
    contract = factories.license_contract(dataverse_client, world)["contract_id"]
    body = run(api, [row(contract, "2026-01-01"), row(contract), row(contract, "2026-04-01"), row(contract, "2026-04-01")])
    statuses = [(r["result"]["status"], r["result"]["message"]) for r in body["rows"]]
    assert statuses[0][0] == "created" and statuses[2][0] == "created"
    assert statuses[1] == ("skipped", "duplicate of row 1")
    assert statuses[3] == ("skipped", "duplicate of row 3")
    cycles = sorted(i["w365_cyclestart"] for i in factories.invoices_of(dataverse_client, contract))
    assert cycles == ["2026-01-01", "2026-04-01"]


def test_duplicates_in_a_webhook_run_are_skipped(api, dataverse_client, world):
    contract = factories.license_contract(dataverse_client, world)["contract_id"]
    rows = json.dumps([{"billingContractId": contract, "triggerPostInvoicingTasks": False}] * 3)
    payload = execution_context("w365_GenerateInvoices", [{"key": "RunId", "value": str(uuid.uuid4())},
                                                          {"key": "Rows", "value": rows}],
                                initiating_user_id=world.billing_user["systemuserid"])
    response = api.post("/api/v1/webhooks/dataverse", data=json.dumps(payload),
                        headers=webhook_headers("w365_GenerateInvoices"))
    assert response.status_code == 200, response.get_json()
    messages = [r["result"]["message"] for r in response.get_json()["rows"]]
    assert messages[1:] == ["duplicate of row 1", "duplicate of row 1"]
    assert len(factories.invoices_of(dataverse_client, contract)) == 1
