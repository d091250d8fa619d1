"""Change-log invoices end to end: API, webhook and bulk runs against the local Dataverse."""
from __future__ import annotations

import json
import uuid
from datetime import datetime, timedelta, timezone
from decimal import Decimal

import pytest

from connectors.dataverse import odata
from plugin.invoicing import single
from tests import factories
from tests.e2e.conftest import count_rows, execution_context, webhook_headers

WEBHOOK = "/api/v1/webhooks/dataverse"


def _preview(api, contract_id, **body):
    return api.post("/api/v1/invoices/preview", json={"billing_contract_id": contract_id, **body})


def _create(api, contract_id, **body):
    return api.post("/api/v1/invoices", json={"billing_contract_id": contract_id, **body})


def _webhook(api, message, params, user):
    payload = execution_context(message, params, initiating_user_id=user)
    return api.post(WEBHOOK, data=json.dumps(payload),
                    headers=webhook_headers(message, correlation_id=payload["CorrelationId"]))


@pytest.fixture()
def quarterly(dataverse_client, world):
    """Quarterly Advance from 2026-01-01, License 12.00 taxable at 10 %, +10 on the start date."""
    client = dataverse_client
    contract_id = factories.create_contract(client, account_id=world.account_id, currency_id=world.currency_id,
                                            contact_id=world.contact_id, start="2026-01-01", billingfrequency=3,
                                            taxpercent=Decimal("10"))
    sub = factories.create_subscription(client, contract_id, price="12.00", taxable=True, name="Seats")
    create = factories.create_change_log(client, sub, contract_id, effective="2026-01-01", delta=10, change_type=1)
    return {"contract_id": contract_id, "subscription_id": sub, "create": create}


def add_changes(client, q):
    """After the first cycle invoice: +4 seats on 02-15, usage 50.00 (minimum 100), a 25.00 one-time item."""
    cid = q["contract_id"]
    usage_sub = factories.create_subscription(client, cid, price="0", billing_type=3, minimum="100", name="Calls")
    return {
        "lcl": factories.create_change_log(client, q["subscription_id"], cid, effective="2026-02-15", delta=4),
        "late_lcl": factories.create_change_log(client, q["subscription_id"], cid, effective="2026-03-20", delta=1),
        "usage": factories.create_usage(client, usage_sub, cid, charge_date="2026-02-20", amount="50.00"),
        "nri": factories.create_nri(client, cid, effective="2026-02-10", unit_price="25.00"),
    }


def row_of(client, entity_set, row_id):
    return client.get(entity_set, row_id)


def schedules_of(client, contract_id):
    return list(client.query("w365_billingschedules", select=["w365_cyclestart", "_w365_invoice_value", "statuscode"],
                             filter=odata.eq("_w365_billingcontract_value", contract_id)))


def test_change_log_through_the_api_then_the_next_cycle_does_not_bill_it_again(api, dataverse_client, quarterly):
    client, cid = dataverse_client, quarterly["contract_id"]
    first = _create(api, cid, cycle="2026-01-01", as_of="2026-01-01")
    assert first.status_code == 201
    first_invoice = first.get_json()["result"]["invoice"]
    sources = add_changes(client, quarterly)

    preview = _preview(api, cid, kind="change_log", as_of="2026-03-01")
    assert preview.status_code == 200, preview.get_json()
    body = preview.get_json()
    assert (body["kind"], body["as_of"], body["invoice_category"]) == ("change_log", "2026-03-01", "Change Log")
    assert [(l["category"], l["amount"], l["period_start"], l["period_end"]) for l in body["lines"]] == [
        ("Mid-Cycle Change", "72.00", "2026-02-15", "2026-03-31"),
        ("Usage", "50.00", "2026-01-01", "2026-03-01"),
        ("Non-Recurring", "25.00", "2026-01-01", "2026-03-01")]
    assert body["totals"]["total"] == "154.20"  # 72.00 + 7.20 tax + 50.00 + 25.00
    assert body["schedule_date"] is None and body["warnings"] == []
    assert body["cycle"]["key"] == "change-log:2026-03-01"

    created = _create(api, cid, kind="change_log", as_of="2026-03-01", preview_hash=body["preview_hash"])
    assert created.status_code == 201, created.get_json()
    result = created.get_json()["result"]
    assert result["status"] == "created" and result["invoice"]["total"] == "154.20"
    assert result["cycle"] == "change-log:2026-03-01" and result["existing_invoices"] == []
    invoice = row_of(client, "invoices", result["invoice"]["id"])
    assert invoice["w365_category"] == 3
    assert (invoice["w365_cyclestart"], invoice["w365_cycleend"]) == ("2026-01-01", "2026-03-01")
    assert (invoice["w365_invoicedate"], invoice["duedate"]) == ("2026-03-01", "2026-03-31")
    assert invoice["_w365_billingschedule_value"] is None
    for entity_set, key in (("w365_licensechangelogs", "lcl"), ("w365_usagerecords", "usage"),
                            ("w365_nonrecurringitems", "nri")):
        consumed = row_of(client, entity_set, sources[key])
        assert (consumed["statuscode"], consumed["_w365_invoice_value"]) == (2, result["invoice"]["id"])
    assert row_of(client, "w365_licensechangelogs", sources["late_lcl"])["statuscode"] == 1
    # no billing schedule written or changed: the first cycle's still names the first invoice
    assert [(s["w365_cyclestart"], s["_w365_invoice_value"]) for s in schedules_of(client, cid)] == [
        ("2026-01-01", first_invoice["id"])]
    item = next(iter(client.query("w365_invoicerunitems", filter=odata.eq("_w365_invoice_value",
                                                                             result["invoice"]["id"]))))
    assert (item["w365_cyclekey"], item["w365_result"]) == ("change-log:2026-03-01", 1)

    cycles = api.get(f"/api/v1/billing-contracts/{cid}/cycles?as_of=2026-03-01").get_json()
    assert cycles["cycles"][0]["invoices"] == [{"id": first_invoice["id"], "number": first_invoice["number"]}]
    assert cycles["default"] == "2026-04-01"

    again = _create(api, cid, kind="change_log", as_of="2026-03-01")
    assert again.status_code == 200
    assert again.get_json()["result"]["status"] == "skipped"
    assert again.get_json()["result"]["message"] == "nothing to invoice"

    nxt = _preview(api, cid, cycle="2026-04-01", as_of="2026-04-01").get_json()
    # 15 × 36 (the +4 and the +1 are in the quantity), the +1 of 03-20 (1 × 36 × 12/90 = 4.80), the
    # usage minimum of 100.00 with no records left; not the +4, the usage or the one-time item again
    assert [(l["category"], l["amount"]) for l in nxt["lines"]] == [
        ("Full Cycle", "540.00"), ("Mid-Cycle Change", "4.80"), ("Usage", "100.00")]
    assert nxt["consumed"]["change_log_ids"] == [sources["late_lcl"]]
    assert nxt["consumed"]["usage_record_ids"] == [] and nxt["consumed"]["non_recurring_item_ids"] == []


def _tomorrow() -> str:
    return (datetime.now(timezone.utc).date() + timedelta(days=1)).isoformat()


@pytest.mark.parametrize("body, field", [
    ({"kind": "change_log"}, "as_of"),
    ({"kind": "change_log", "as_of": None}, "as_of"),
    ({"kind": "change_log", "as_of": "TOMORROW"}, "as_of"),
    ({"kind": "change_log", "as_of": "2026-03-01", "cycle": "2026-01-01"}, "cycle"),
    ({"kind": "changelog", "as_of": "2026-03-01"}, "kind"),
    ({"cycle": "change-log:2026-03-01"}, "cycle"),
])
@pytest.mark.parametrize("route", ["/api/v1/invoices/preview", "/api/v1/invoices"])
def test_bad_change_log_requests_are_422_and_write_nothing(api, dataverse_client, quarterly, body, field, route):
    body = {k: (_tomorrow() if v == "TOMORROW" else v) for k, v in body.items()}
    before = count_rows(dataverse_client, "w365_invoiceruns")
    response = api.post(route, json={"billing_contract_id": quarterly["contract_id"], **body})
    assert response.status_code == 422
    error = response.get_json()["error"]
    assert error["code"] and error["message"] and field in json.dumps(error["details"])
    assert count_rows(dataverse_client, "w365_invoiceruns") == before
    assert factories.invoices_of(dataverse_client, quarterly["contract_id"]) == []


@pytest.mark.parametrize("columns", [{"billingfrequency": 1}, {"type": 2, "billingfrequency": 12}])
def test_monthly_and_item_based_contracts_are_refused(api, dataverse_client, world, columns):
    cid = factories.create_contract(dataverse_client, account_id=world.account_id, currency_id=world.currency_id,
                                    **columns)
    for route in ("/api/v1/invoices/preview", "/api/v1/invoices"):
        response = api.post(route, json={"billing_contract_id": cid, "kind": "change_log", "as_of": "2026-03-01"})
        assert response.status_code == 422
        assert response.get_json()["error"]["code"] == "change_log_not_allowed"
    assert count_rows(dataverse_client, "invoices", odata.eq("_w365_billingcontract_value", cid)) == 0


def test_an_earlier_uninvoiced_cycle_with_changes_must_be_invoiced_first(api, dataverse_client, quarterly):
    cid = quarterly["contract_id"]
    response = _create(api, cid, kind="change_log", as_of="2026-05-01")
    assert response.status_code == 422
    error = response.get_json()["error"]
    assert error["code"] == "earlier_cycles_not_invoiced"
    assert error["message"] == "earlier billing cycles have not been invoiced: generate them first"
    assert error["details"]["cycles"] == ["2026-01-01"]
    assert row_of(dataverse_client, "w365_licensechangelogs", quarterly["create"])["statuscode"] == 1
    assert factories.invoices_of(dataverse_client, cid) == [] and schedules_of(dataverse_client, cid) == []


def test_a_consumed_row_changed_after_the_read_skips_the_change_log(api, dataverse_client, quarterly, monkeypatch):
    client, cid = dataverse_client, quarterly["contract_id"]
    assert _create(api, cid, cycle="2026-01-01", as_of="2026-01-01").status_code == 201
    lcl = factories.create_change_log(client, quarterly["subscription_id"], cid, effective="2026-02-15", delta=4)
    real_load = single.load_contract

    def load_then_change(dv, contract_id):
        loaded = real_load(dv, contract_id)
        client.update("w365_licensechangelogs", lcl, {"w365_quantitychange": Decimal(5)})
        return loaded

    monkeypatch.setattr(single, "load_contract", load_then_change)
    response = _create(api, cid, kind="change_log", as_of="2026-03-01")
    assert response.status_code == 200, response.get_json()
    result = response.get_json()["result"]
    assert (result["status"], result["message"], result["invoice"]) == ("skipped", "changed concurrently", None)
    assert len(factories.invoices_of(client, cid)) == 1
    assert row_of(client, "w365_licensechangelogs", lcl)["statuscode"] == 1


def test_change_log_rows_through_the_webhook(api, dataverse_client, world, quarterly):
    client, cid = dataverse_client, quarterly["contract_id"]
    user = world.billing_user["systemuserid"]
    assert _create(api, cid, cycle="2026-01-01", as_of="2026-01-01").status_code == 201
    sources = add_changes(client, quarterly)
    run_key = str(uuid.uuid4())
    rows = [{"billingContractId": cid, "kind": "change_log", "asOf": "2026-03-01",
             "triggerPostInvoicingTasks": False}]
    response = _webhook(api, "w365_GenerateInvoices",
                        [{"key": "RunId", "value": run_key}, {"key": "Rows", "value": json.dumps(rows)}], user)
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    row = body["rows"][0]
    assert row["cycle"] == "change-log:2026-03-01" and row["result"]["status"] == "created"
    assert row["result"]["invoice"]["total"] == "154.20"
    assert row_of(client, "w365_licensechangelogs", sources["lcl"])["statuscode"] == 2
    run = client.get("w365_invoiceruns", body["run_id"])
    assert json.loads(run["w365_requestjson"]) == [{"billingContractId": cid, "kind": "change_log",
                                                   "asOf": "2026-03-01", "triggerPostInvoicingTasks": False}]

    for bad in ({"kind": "change_log", "cycle": "2026-01-01", "asOf": "2026-03-01"}, {"kind": "change_log"},
                {"cycle": "change-log:2026-03-01"}, {"kind": "changelog", "asOf": "2026-03-01"}):
        rows = [{"billingContractId": cid, **bad}]
        before = count_rows(client, "w365_invoiceruns")
        refused = _webhook(api, "w365_GenerateInvoices",
                           [{"key": "RunId", "value": str(uuid.uuid4())}, {"key": "Rows", "value": json.dumps(rows)}],
                           user)
        assert 400 <= refused.status_code < 500 and refused.get_json()["error"]["message"]
        assert count_rows(client, "w365_invoiceruns") == before
    refused = _webhook(api, "w365_GenerateInvoice", [{"key": "BillingContractId", "value": cid},
                                                     {"key": "Cycle", "value": "change-log:2026-03-01"}], user)
    assert 400 <= refused.status_code < 500


def test_change_log_rows_in_a_bulk_run(api, dataverse_client, world, quarterly):
    client, cid = dataverse_client, quarterly["contract_id"]
    monthly = factories.license_contract(client, world, frequency=1)["contract_id"]
    assert _create(api, cid, cycle="2026-01-01", as_of="2026-01-01").status_code == 201
    sources = add_changes(client, quarterly)
    response = api.post("/api/v1/invoice-runs?wait=60", json={"rows": [
        {"billing_contract_id": cid, "kind": "change_log", "as_of": "2026-03-01",
         "trigger_post_invoicing_tasks": False},
        {"billing_contract_id": monthly, "kind": "change_log", "as_of": "2026-03-01",
         "trigger_post_invoicing_tasks": False},
        {"billing_contract_id": cid, "kind": "change_log", "as_of": "2026-03-01",
         "trigger_post_invoicing_tasks": False},
    ]})
    assert response.status_code == 200, response.get_json()
    run = response.get_json()
    results = [(r["cycle"], r["result"]["status"]) for r in run["rows"]]
    assert results[:2] == [("change-log:2026-03-01", "created"), ("change-log:2026-03-01", "failed")]
    assert results[2][1] == "skipped"  # the same row again: never invoiced twice
    assert "quarterly" in run["rows"][1]["result"]["message"]
    assert row_of(client, "w365_usagerecords", sources["usage"])["statuscode"] == 2
    assert schedules_of(client, monthly) == []  # a failed change log does not touch schedules
    csv = api.get(f"/api/v1/invoice-runs/{run['run_id']}/results.csv").get_data(as_text=True)
    assert "change-log:2026-03-01" in csv

    nxt = api.post("/api/v1/invoice-runs?wait=60", json={"rows": [
        {"billing_contract_id": cid, "cycle": "2026-04-01", "trigger_post_invoicing_tasks": False}],
        "as_of": "2026-04-01"}).get_json()
    invoice_id = nxt["rows"][0]["result"]["invoice"]["id"]
    lines = list(client.query("invoicedetails", select=["w365_linecategory", "baseamount"],
                              filter=odata.eq("_invoiceid_value", invoice_id)))
    assert sorted((l["w365_linecategory"], Decimal(str(l["baseamount"]))) for l in lines) == [
        (1, Decimal("540.00")), (2, Decimal("4.80")), (3, Decimal("100.00"))]


@pytest.mark.parametrize("row, field", [
    ({"kind": "change_log"}, "as_of"),
    ({"cycle": "change-log:2026-03-01"}, "cycle"),
    ({"kind": "change_log", "as_of": "TOMORROW"}, "as_of"),
    ({"kind": "change_log", "as_of": "2026-03-01", "cycle": "2026-01-01"}, "cycle"),
])
def test_bad_change_log_rows_refuse_the_run(api, dataverse_client, quarterly, row, field):
    row = {k: (_tomorrow() if v == "TOMORROW" else v) for k, v in row.items()}
    before = count_rows(dataverse_client, "w365_invoiceruns")
    response = api.post("/api/v1/invoice-runs", json={"rows": [
        {"billing_contract_id": quarterly["contract_id"], "trigger_post_invoicing_tasks": False, **row}]})
    assert response.status_code == 422
    assert field in json.dumps(response.get_json()["error"]["details"])
    assert count_rows(dataverse_client, "w365_invoiceruns") == before


def test_a_retried_create_with_the_same_key_answers_the_first_result(api, dataverse_client, quarterly):
    client, cid = dataverse_client, quarterly["contract_id"]
    assert _create(api, cid, cycle="2026-01-01", as_of="2026-01-01").status_code == 201
    factories.create_change_log(client, quarterly["subscription_id"], cid, effective="2026-02-15", delta=4)
    headers = {"Idempotency-Key": str(uuid.uuid4())}
    body = {"billing_contract_id": cid, "kind": "change_log", "as_of": "2026-03-01"}
    first = api.post("/api/v1/invoices", json=body, headers=headers)
    again = api.post("/api/v1/invoices", json=body, headers=headers)
    assert first.status_code == 201 and again.get_json() == first.get_json()
    other = api.post("/api/v1/invoices", json={**body, "as_of": "2026-03-02"}, headers=headers)
    assert other.status_code == 409 and other.get_json()["error"]["code"] == "idempotency_key_reused"
    assert len(factories.invoices_of(client, cid)) == 2


def test_a_bulk_change_log_row_whose_source_changed_after_the_read_is_skipped(dataverse_client, quarterly):
    from concurrent.futures import ThreadPoolExecutor

    from plugin.invoicing.reads import load_contracts
    from plugin.runs.model import RunRequest, RunRow
    from plugin.runs.rows import ChunkWriter, plan_row
    from plugin.runs.store import open_run, run_items

    client, cid = dataverse_client, quarterly["contract_id"]
    client.update("w365_licensechangelogs", quarterly["create"], {"statuscode": 2})  # as if invoiced
    client.create("w365_billingschedules", {
        "w365_name": "first", "w365_cyclestart": "2026-01-01", "w365_cycleend": "2026-03-31", "statecode": 1,
        "statuscode": 3, "w365_BillingContract@odata.bind": odata.bind("w365_billingcontracts", cid)})
    lcl = factories.create_change_log(client, quarterly["subscription_id"], cid, effective="2026-02-15", delta=4)
    row = RunRow(0, cid, "change-log:2026-03-01", False)
    record, _ = open_run(client, RunRequest(rows=(row,)), {})
    plan = plan_row(row, next(load_contracts(client, [cid])), on_existing=None, as_of=None, cycle_range=2)
    assert plan.draft is not None and plan.option is None
    client.update("w365_licensechangelogs", lcl, {"w365_quantitychange": Decimal(6)})
    with ThreadPoolExecutor(2) as pool:
        result = ChunkWriter(client, pool, record.run_id, 2).write([plan])[0]
    assert (result.status, result.outcome.message) == ("skipped", "changed concurrently")
    assert factories.invoices_of(client, cid) == []
    assert client.get("w365_licensechangelogs", lcl)["statuscode"] == 1
    assert [(i["w365_result"], i["w365_cyclekey"]) for i in run_items(client, record.run_id)] == [
        (2, "change-log:2026-03-01")]
    schedule = next(iter(client.query("w365_billingschedules", filter=odata.eq("_w365_billingcontract_value", cid))))
    assert (schedule["statuscode"], schedule["w365_message"]) == (3, None)
