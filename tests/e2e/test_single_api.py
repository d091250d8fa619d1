"""The single-contract API end to end: cycles, preview, create (DESIGN §4.8 example, §5, §7)."""
from __future__ import annotations

from decimal import Decimal

import pytest

from connectors.dataverse import odata
from tests import factories
from tests.e2e.conftest import count_rows

AS_OF = "2026-02-01"


@pytest.fixture()
def example(dataverse_client, world):
    """DESIGN §4.8 'Mid-cycle change, Days': quarterly Advance, 12.00/month taxable, tax 10 %, +10 then +4."""
    client = dataverse_client
    contract_id = factories.create_contract(client, account_id=world.account_id, currency_id=world.currency_id,
                                            contact_id=world.contact_id, start="2026-01-01", billingfrequency=3,
                                            taxpercent=Decimal("10"), autosend=True, autosync=True, autocharge=True)
    sub = factories.create_subscription(client, contract_id, price="12.00", taxable=True, name="Microsoft 365 E3")
    first = factories.create_change_log(client, sub, contract_id, effective="2026-01-01", delta=10, change_type=1)
    second = factories.create_change_log(client, sub, contract_id, effective="2026-02-15", delta=4)
    return {"contract_id": contract_id, "subscription_id": sub, "lcls": [first, second]}


def _preview(api, contract_id, **body):
    return api.post("/api/v1/invoices/preview", json={"billing_contract_id": contract_id, **body})


def _create(api, contract_id, headers=None, **body):
    return api.post("/api/v1/invoices", json={"billing_contract_id": contract_id, **body}, headers=headers or {})


def _invoices_of(client, contract_id):
    return list(client.query("invoices", select=["invoiceid", "invoicenumber", "totalamount", "name", "modifiedon",
                                                  "_w365_billingschedule_value", "_w365_invoicerun_value"],
                             filter=odata.eq("_w365_billingcontract_value", contract_id)))


def test_cycles_lists_header_cycles_and_default(api, example, world):
    response = api.get(f"/api/v1/billing-contracts/{example['contract_id']}/cycles?as_of={AS_OF}")
    assert response.status_code == 200
    body = response.get_json()
    header = body["header"]
    assert header["id"] == example["contract_id"]
    assert header["account"]["id"] == world.account_id and header["account"]["name"]
    assert header["type"] == {"value": 1, "label": "Recurring"}
    assert header["billing_policy"] == {"value": 1, "label": "Advance"}
    assert header["invoice_otp_immediately"] is False
    assert header["currency"]["code"] == "USD" and header["currency"]["precision"] == 2
    assert header["automations"] == {"send": True, "sync": True, "charge": True}
    assert [c["key"] for c in body["cycles"]] == ["2026-01-01", "2026-04-01", "2026-07-01"]
    assert body["cycles"][0] == {"key": "2026-01-01", "start": "2026-01-01", "end": "2026-03-31",
                                 "status": "uninvoiced", "invoices": []}
    assert body["default"] == "2026-01-01"
    later = api.get(f"/api/v1/billing-contracts/{example['contract_id']}/cycles?as_of=2026-08-15").get_json()
    assert [c["key"] for c in later["cycles"]][-1] == "2027-01-01"


def test_preview_is_the_worked_example_and_writes_nothing(api, example, dataverse_client, counter):
    count = counter()
    response = _preview(api, example["contract_id"], cycle="2026-01-01", as_of=AS_OF)
    assert response.status_code == 200
    body = response.get_json()
    assert count.delta() == {"http_requests": 1, "operations": 7}  # one $batch of GETs: nothing written
    assert [(l["category"], l["amount"], l["tax"], l["total"]) for l in body["lines"]] == [
        ("Full Cycle", "360.00", "36.00", "396.00"), ("Mid-Cycle Change", "72.00", "7.20", "79.20")]
    assert body["totals"] == {"amount": "432.00", "discount": "0.00", "tax": "43.20", "total": "475.20"}
    assert body["invoice_date"] == "2026-01-01" and body["due_date"] == "2026-01-31"
    assert [g["category"] for g in body["categories"]] == [
        "Full Cycle", "Mid-Cycle Change", "Usage", "Non-Recurring", "Service"]
    assert body["lines"][1]["proration_factor"] == "0.5000000000" and body["lines"][1]["change_log_id"]
    assert body["warnings"] == [] and body["preview_hash"]
    assert body["header"]["name"]
    assert _invoices_of(dataverse_client, example["contract_id"]) == []
    again = _preview(api, example["contract_id"], cycle="2026-01-01", as_of=AS_OF).get_json()
    assert again["preview_hash"] == body["preview_hash"]
    default = _preview(api, example["contract_id"], as_of=AS_OF).get_json()
    assert default["cycle"]["key"] == "2026-01-01"


def test_create_writes_everything_atomically_and_never_post_tasks(api, example, dataverse_client, counter):
    client = dataverse_client
    tasks_before = count_rows(client, "w365_postinvoicetasks")
    count = counter()
    response = _create(api, example["contract_id"], cycle="2026-01-01", as_of=AS_OF)
    assert response.status_code == 201, response.get_json()
    assert count.delta()["http_requests"] <= 3
    body = response.get_json()
    result = body["result"]
    assert result["status"] == "created" and result["existing_invoices"] == []
    assert result["invoice"]["number"].startswith("INV-") and result["invoice"]["total"] == "475.20"
    invoice = client.get("invoices", result["invoice"]["id"],
                         select=["totalamount", "totaltax", "w365_cyclestart", "w365_posttasksrequested",
                                 "_w365_billingschedule_value", "_w365_invoicerun_value", "_customerid_value"],
                         expand="invoice_details($select=baseamount,w365_linecategory)")
    assert invoice["totalamount"] == Decimal("475.20") and invoice["totaltax"] == Decimal("43.20")
    assert sorted(d["baseamount"] for d in invoice["invoice_details"]) == [Decimal("72.00"), Decimal("360.00")]
    assert invoice["w365_posttasksrequested"] is False
    assert invoice["_w365_invoicerun_value"] == body["run_id"]
    schedule = client.get_by_key("w365_billingschedules", {"_w365_billingcontract_value": example["contract_id"],
                                                           "w365_cyclestart": "2026-01-01"})
    assert schedule["statuscode"] == 3 and schedule["_w365_invoice_value"] == result["invoice"]["id"]
    assert invoice["_w365_billingschedule_value"] == schedule["w365_billingscheduleid"]
    for lcl in example["lcls"]:
        row = client.get("w365_licensechangelogs", lcl, select=["statuscode", "_w365_invoice_value"])
        assert row["statuscode"] == 2 and row["_w365_invoice_value"] == result["invoice"]["id"]
    run = client.get("w365_invoiceruns", body["run_id"])
    assert (run["w365_mode"], run["w365_source"], run["w365_status"], run["w365_created"]) == (1, 1, 2, 1)
    items = list(client.query("w365_invoicerunitems", filter=odata.eq("_w365_invoicerun_value", body["run_id"])))
    assert len(items) == 1 and items[0]["w365_result"] == 1 and items[0]["_w365_invoice_value"] == result["invoice"]["id"]
    assert count_rows(client, "w365_postinvoicetasks") == tasks_before  # automations on, still no task
    cycles = api.get(f"/api/v1/billing-contracts/{example['contract_id']}/cycles?as_of={AS_OF}").get_json()
    assert cycles["cycles"][0]["status"] == "invoiced"
    assert cycles["cycles"][0]["invoices"] == [{"id": result["invoice"]["id"], "number": result["invoice"]["number"]}]
    assert cycles["default"] == "2026-04-01"
    # the next cycle bills 14 × 36.00 and no mid-cycle line (DESIGN §4.8)
    nxt = _preview(api, example["contract_id"], as_of=AS_OF).get_json()
    assert nxt["cycle"]["key"] == "2026-04-01" and nxt["totals"]["amount"] == "504.00"


def test_reinvoice_warns_and_leaves_the_old_invoice_untouched(api, example, dataverse_client):
    client = dataverse_client
    first = _create(api, example["contract_id"], cycle="2026-01-01", as_of=AS_OF).get_json()["result"]["invoice"]
    before = client.get("invoices", first["id"])
    preview = _preview(api, example["contract_id"], cycle="2026-01-01", as_of=AS_OF).get_json()
    assert preview["cycle"]["status"] == "invoiced"
    assert preview["warnings"] == [f"Already invoiced ({first['number']}): an additional invoice will be created"]
    assert preview["existing_invoices"] == [{"id": first["id"], "number": first["number"]}]
    assert preview["totals"]["amount"] == "360.00"  # full cycle again; the +4 LCL was consumed
    response = _create(api, example["contract_id"], cycle="2026-01-01", as_of=AS_OF)
    assert response.status_code == 201
    result = response.get_json()["result"]
    assert result["existing_invoices"] == [{"id": first["id"], "number": first["number"]}]
    assert first["number"] in result["message"] and result["invoice"]["number"] != first["number"]
    after = client.get("invoices", first["id"])
    assert {k: v for k, v in after.items() if k != "@odata.etag"} == \
        {k: v for k, v in before.items() if k != "@odata.etag"}
    schedule = client.get_by_key("w365_billingschedules", {"_w365_billingcontract_value": example["contract_id"],
                                                           "w365_cyclestart": "2026-01-01"})
    assert schedule["_w365_invoice_value"] == result["invoice"]["id"]
    skipped = _create(api, example["contract_id"], cycle="2026-01-01", as_of=AS_OF, on_existing="skip")
    assert skipped.status_code == 200
    assert skipped.get_json()["result"]["status"] == "skipped" and skipped.get_json()["result"]["invoice"] is None
    assert len(_invoices_of(client, example["contract_id"])) == 2


def test_idempotency_key_returns_the_first_answer(api, example, dataverse_client):
    headers = {"Idempotency-Key": f"key-{example['contract_id']}"}
    first = _create(api, example["contract_id"], headers=headers, cycle="2026-01-01", as_of=AS_OF)
    second = _create(api, example["contract_id"], headers=headers, cycle="2026-01-01", as_of=AS_OF)
    assert first.status_code == second.status_code == 201
    assert second.get_json() == first.get_json()
    assert len(_invoices_of(dataverse_client, example["contract_id"])) == 1
    other = factories.license_contract(dataverse_client, factories.make_world(dataverse_client))
    reused = _create(api, other["contract_id"], headers=headers)
    assert reused.status_code == 409 and reused.get_json()["error"]["code"] == "idempotency_key_reused"


def test_stale_preview_hash_is_409_with_a_fresh_preview_and_writes_nothing(api, example, dataverse_client, counter):
    preview = _preview(api, example["contract_id"], cycle="2026-01-01", as_of=AS_OF).get_json()
    factories.create_change_log(dataverse_client, example["subscription_id"], example["contract_id"],
                                effective="2026-03-01", delta=1)
    count = counter()
    stale = _create(api, example["contract_id"], cycle="2026-01-01", as_of=AS_OF, preview_hash=preview["preview_hash"])
    assert stale.status_code == 409
    error = stale.get_json()["error"]
    assert error["code"] == "stale_preview"
    fresh = error["details"]["preview"]
    assert fresh["preview_hash"] != preview["preview_hash"] and len(fresh["lines"]) == 3
    assert count.delta() == {"http_requests": 1, "operations": 7}
    assert _invoices_of(dataverse_client, example["contract_id"]) == []
    created = _create(api, example["contract_id"], cycle="2026-01-01", as_of=AS_OF, preview_hash=fresh["preview_hash"])
    assert created.status_code == 201
    again = _create(api, example["contract_id"], cycle="2026-01-01", as_of=AS_OF, preview_hash=fresh["preview_hash"])
    assert again.status_code == 409  # two requests made from the same preview never both create


def test_nothing_to_invoice_is_skipped_without_touching_the_schedule(api, dataverse_client, world):
    contract_id = factories.create_contract(dataverse_client, account_id=world.account_id,
                                            currency_id=world.currency_id, start="2026-01-01")
    response = _create(api, contract_id, cycle="2026-01-01", as_of=AS_OF)
    assert response.status_code == 200
    body = response.get_json()
    assert body["result"] == {"status": "skipped", "invoice": None, "existing_invoices": [],
                              "message": "nothing to invoice", "cycle": "2026-01-01"}
    assert count_rows(dataverse_client, "w365_billingschedules", odata.eq("_w365_billingcontract_value", contract_id)) == 0
    item = next(iter(dataverse_client.query("w365_invoicerunitems",
                                            filter=odata.eq("_w365_invoicerun_value", body["run_id"]))))
    assert item["w365_result"] == 2 and item["w365_message"] == "nothing to invoice"


def test_one_time_invoice_of_an_item_based_contract(api, dataverse_client, world):
    client = dataverse_client
    contract_id = factories.create_contract(client, account_id=world.account_id, currency_id=world.currency_id,
                                            start="2026-01-01", type=2)
    nris = [factories.create_nri(client, contract_id, effective="2026-01-05", quantity=2, unit_price="50.00"),
            factories.create_nri(client, contract_id, effective="2026-03-05", unit_price="25.50")]
    cycles = api.get(f"/api/v1/billing-contracts/{contract_id}/cycles?as_of={AS_OF}").get_json()
    assert cycles["default"] == "one-time" and [c["key"] for c in cycles["cycles"]] == ["one-time"]
    response = _create(api, contract_id, as_of=AS_OF)
    assert response.status_code == 201
    assert response.get_json()["result"]["invoice"]["total"] == "125.50"
    for nri in nris:
        assert client.get("w365_nonrecurringitems", nri, select=["statuscode"])["statuscode"] == 2
    assert count_rows(client, "w365_billingschedules", odata.eq("_w365_billingcontract_value", contract_id)) == 0
    again = _create(api, contract_id, as_of=AS_OF).get_json()
    assert again["result"]["status"] == "skipped" and again["result"]["message"] == "nothing to invoice"


def test_unknown_cycle_and_no_default_cycle_are_4xx(api, example, dataverse_client):
    for key in ("2026-01-02", "2031-01-01x", "one-time", "1999-01-01"):
        response = _preview(api, example["contract_id"], cycle=key, as_of=AS_OF)
        assert 400 <= response.status_code < 500 and response.get_json()["error"]["code"] == "unknown_cycle", key
    contract_id = factories.create_contract(dataverse_client, account_id=factories.create_account(dataverse_client),
                                            currency_id=factories.create_currency(dataverse_client),
                                            start="2026-01-01", end="2026-01-31")
    sub = factories.create_subscription(dataverse_client, contract_id)
    factories.create_change_log(dataverse_client, sub, contract_id, effective="2026-01-01", delta=1, change_type=1)
    assert _create(api, contract_id, as_of=AS_OF).status_code == 201
    response = _create(api, contract_id, as_of=AS_OF)
    assert response.status_code == 409 and response.get_json()["error"]["code"] == "no_cycle_available"


def test_reads_follow_next_links(api, example, monkeypatch, counter):
    from plugin.invoicing import reads

    whole = _preview(api, example["contract_id"], cycle="2026-01-01", as_of=AS_OF).get_json()
    monkeypatch.setitem(reads._PAGED, "Prefer", "odata.maxpagesize=1")
    count = counter()
    paged = _preview(api, example["contract_id"], cycle="2026-01-01", as_of=AS_OF).get_json()
    assert count.delta()["http_requests"] > 1  # the LCLs came one page at a time
    assert paged["lines"] == whole["lines"] and paged["preview_hash"] == whole["preview_hash"]
