"""A failed change set (DESIGN §5): nothing half-written, run item Failed, schedule Error (or only its message)."""
from __future__ import annotations

import pytest

from connectors.dataverse import odata
from plugin.invoicing import single
from tests import factories
from tests.e2e.conftest import count_rows


@pytest.fixture()
def delete_after_read(monkeypatch, dataverse_client):
    """Delete some rows right after the request read them, so its change set fails (404 on a consumed row)."""
    doomed: list[tuple[str, str]] = []
    real = single.load_contract

    def load_then_delete(client, contract_id):
        loaded = real(client, contract_id)
        while doomed:
            dataverse_client.delete(*doomed.pop())
        return loaded

    monkeypatch.setattr(single, "load_contract", load_then_delete)
    return doomed


def _schedule(client, contract_id, cycle="2026-01-01"):
    return client.get_by_key("w365_billingschedules", {"_w365_billingcontract_value": contract_id,
                                                       "w365_cyclestart": cycle})


def test_failure_marks_the_run_item_and_the_schedule_and_writes_no_invoice(api, dataverse_client, world,
                                                                         delete_after_read):
    client = dataverse_client
    ids = factories.license_contract(client, world, start="2026-01-01")
    extra = factories.create_change_log(client, ids["subscription_id"], ids["contract_id"],
                                        effective="2026-02-15", delta=2)
    delete_after_read.append(("w365_licensechangelogs", extra))
    response = api.post("/api/v1/invoices", json={"billing_contract_id": ids["contract_id"], "cycle": "2026-01-01",
                                                  "as_of": "2026-02-01"})
    assert response.status_code == 200
    body = response.get_json()
    assert body["result"]["status"] == "failed" and body["result"]["invoice"] is None
    assert body["result"]["message"].startswith("Dataverse refused the invoice")
    flt = odata.eq("_w365_billingcontract_value", ids["contract_id"])
    assert count_rows(client, "invoices", flt) == 0
    assert client.get("w365_licensechangelogs", ids["change_log_id"], select=["statuscode"])["statuscode"] == 1
    run = client.get("w365_invoiceruns", body["run_id"])
    assert (run["w365_status"], run["w365_failed"]) == (3, 1)
    item = next(iter(client.query("w365_invoicerunitems", filter=odata.eq("_w365_invoicerun_value", body["run_id"]))))
    assert item["w365_result"] == 3 and item["w365_message"] == body["result"]["message"]
    schedule = _schedule(client, ids["contract_id"])
    assert (schedule["statecode"], schedule["statuscode"]) == (0, 2)
    assert schedule["w365_message"] == body["result"]["message"]
    assert schedule["w365_correlationid"] == item["w365_correlationid"]
    assert schedule.get("_w365_invoice_value") is None
    cycles = api.get(f"/api/v1/billing-contracts/{ids['contract_id']}/cycles?as_of=2026-02-01").get_json()
    assert cycles["cycles"][0]["status"] == "error" and cycles["default"] == "2026-01-01"
    retry = api.post("/api/v1/invoices", json={"billing_contract_id": ids["contract_id"], "as_of": "2026-02-01"})
    assert retry.status_code == 201  # an Error cycle is invoiced by the next try (If-Match on its ETag)
    schedule = _schedule(client, ids["contract_id"])
    assert schedule["statuscode"] == 3 and schedule["_w365_invoice_value"] == retry.get_json()["result"]["invoice"]["id"]


def test_failed_reinvoice_keeps_the_schedule_invoiced(api, dataverse_client, world, delete_after_read):
    client = dataverse_client
    ids = factories.license_contract(client, world, start="2026-01-01")
    body = {"billing_contract_id": ids["contract_id"], "cycle": "2026-01-01", "as_of": "2026-02-01"}
    first = api.post("/api/v1/invoices", json=body).get_json()["result"]["invoice"]
    extra = factories.create_change_log(client, ids["subscription_id"], ids["contract_id"],
                                        effective="2026-02-15", delta=2)
    delete_after_read.append(("w365_licensechangelogs", extra))
    failed = api.post("/api/v1/invoices", json=body).get_json()
    assert failed["result"]["status"] == "failed"
    assert failed["result"]["existing_invoices"] == [{"id": first["id"], "number": first["number"]}]
    schedule = _schedule(client, ids["contract_id"])
    assert (schedule["statuscode"], schedule["_w365_invoice_value"]) == (3, first["id"])
    assert schedule["w365_message"] == failed["result"]["message"] and schedule["w365_correlationid"]
    assert count_rows(client, "invoices", odata.eq("_w365_billingcontract_value", ids["contract_id"])) == 1


def test_a_write_whose_answer_is_lost_reports_what_landed(api, dataverse_client, world, monkeypatch):
    """The change set is applied but its answer never arrives: the stored result is returned, once."""
    from connectors.dataverse.errors import DataverseConnectionError

    ids = factories.license_contract(dataverse_client, world, start="2026-01-01")
    real = type(dataverse_client).execute_batch
    calls = []

    def lose_answer(self, batch, **kwargs):
        result = real(self, batch, **kwargs)
        if batch.changesets and not calls:
            calls.append(1)
            raise DataverseConnectionError("connection reset after the request was sent")
        return result

    monkeypatch.setattr(type(dataverse_client), "execute_batch", lose_answer)
    response = api.post("/api/v1/invoices", json={"billing_contract_id": ids["contract_id"], "as_of": "2026-02-01"},
                        headers={"Idempotency-Key": f"lost-{ids['contract_id']}"})
    assert response.status_code == 201
    assert response.get_json()["result"]["invoice"]["number"].startswith("INV-")
    assert count_rows(dataverse_client, "invoices", odata.eq("_w365_billingcontract_value", ids["contract_id"])) == 1
