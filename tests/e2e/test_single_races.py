"""Races (DESIGN §4.7): two creates that both read a cycle uninvoiced make ONE invoice; the other is skipped."""
from __future__ import annotations

import threading

import pytest

from connectors.dataverse import odata
from plugin.invoicing import single
from tests import factories
from tests.e2e.conftest import count_rows


@pytest.fixture()
def both_read_first(monkeypatch):
    """Make two concurrent generates both finish their reads before either writes."""
    barrier = threading.Barrier(2, timeout=30)
    real = single.load_contract

    def load_then_wait(client, contract_id):
        loaded = real(client, contract_id)
        barrier.wait()
        return loaded

    monkeypatch.setattr(single, "load_contract", load_then_wait)


def _race(plugin_app, bodies, headers=None):
    results = [None] * len(bodies)

    def post(i):
        with plugin_app.test_client() as client:
            response = client.post("/api/v1/invoices", json=bodies[i], headers=(headers or [{}] * len(bodies))[i])
            results[i] = (response.status_code, response.get_json())

    threads = [threading.Thread(target=post, args=(i,)) for i in range(len(bodies))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    return results


def test_two_concurrent_creates_for_one_uninvoiced_cycle(plugin_app, dataverse_client, world, both_read_first):
    ids = factories.license_contract(dataverse_client, world, start="2026-01-01")
    body = {"billing_contract_id": ids["contract_id"], "cycle": "2026-01-01", "as_of": "2026-02-01"}
    results = _race(plugin_app, [body, body])
    statuses = sorted(r[0] for r in results)
    assert statuses == [200, 201], results
    created = next(r[1]["result"] for r in results if r[0] == 201)
    skipped = next(r[1]["result"] for r in results if r[0] == 200)
    assert skipped["status"] == "skipped" and skipped["invoice"] is None
    assert skipped["message"] == f"invoiced concurrently by {created['invoice']['number']}"
    flt = odata.eq("_w365_billingcontract_value", ids["contract_id"])
    assert count_rows(dataverse_client, "invoices", flt) == 1
    lcl = dataverse_client.get("w365_licensechangelogs", ids["change_log_id"], select=["_w365_invoice_value"])
    assert lcl["_w365_invoice_value"] == created["invoice"]["id"]


def test_concurrent_reinvoices_of_an_invoiced_cycle_make_one_more(plugin_app, dataverse_client, world,
                                                                  both_read_first):
    ids = factories.license_contract(dataverse_client, world, start="2026-01-01")
    body = {"billing_contract_id": ids["contract_id"], "cycle": "2026-01-01", "as_of": "2026-02-01"}
    results = _race(plugin_app, [body, body])
    assert sorted(r[0] for r in results) == [200, 201]
    flt = odata.eq("_w365_billingcontract_value", ids["contract_id"])
    assert count_rows(dataverse_client, "invoices", flt) == 1
    # both read the cycle Invoiced (schedule ETag): again only one additional invoice
    results = _race(plugin_app, [body, body])
    assert sorted(r[0] for r in results) == [200, 201], results
    assert "invoiced concurrently by INV-" in next(r[1]["result"]["message"] for r in results if r[0] == 200)
    assert count_rows(dataverse_client, "invoices", flt) == 2


def test_concurrent_one_time_invoices_guard_their_nris(plugin_app, dataverse_client, world, both_read_first):
    contract_id = factories.create_contract(dataverse_client, account_id=world.account_id,
                                            currency_id=world.currency_id, start="2026-01-01", type=2)
    factories.create_nri(dataverse_client, contract_id, effective="2026-01-05")
    body = {"billing_contract_id": contract_id, "as_of": "2026-02-01"}
    results = _race(plugin_app, [body, body])
    assert sorted(r[0] for r in results) == [200, 201], results
    skipped = next(r[1]["result"] for r in results if r[0] == 200)
    assert skipped["message"].startswith("invoiced concurrently by INV-")
    assert count_rows(dataverse_client, "invoices", odata.eq("_w365_billingcontract_value", contract_id)) == 1


def test_same_idempotency_key_concurrently_creates_once(plugin_app, dataverse_client, world, both_read_first):
    ids = factories.license_contract(dataverse_client, world, start="2026-01-01")
    body = {"billing_contract_id": ids["contract_id"], "cycle": "2026-01-01", "as_of": "2026-02-01"}
    headers = {"Idempotency-Key": f"race-{ids['contract_id']}"}
    results = _race(plugin_app, [body, body], [headers, headers])
    assert [r[0] for r in results] == [201, 201], results
    assert results[0][1] == results[1][1]
    assert count_rows(dataverse_client, "invoices", odata.eq("_w365_billingcontract_value", ids["contract_id"])) == 1


def test_concurrent_creates_of_two_cycles_never_bill_one_change_twice(plugin_app, dataverse_client, world,
                                                                       both_read_first):
    # Monthly from 2026-01-01; a +5 change on 2026-01-15 is Active: invoicing January or February
    # (before January is invoiced) would each bill it as a mid-cycle line.
    ids = factories.license_contract(dataverse_client, world, start="2026-01-01", frequency=1)
    change = factories.create_change_log(dataverse_client, ids["subscription_id"], ids["contract_id"],
                                         effective="2026-01-15", delta=5)
    bodies = [{"billing_contract_id": ids["contract_id"], "cycle": key, "as_of": "2026-02-20"}
              for key in ("2026-01-01", "2026-02-01")]
    results = _race(plugin_app, bodies)
    assert sorted(r[0] for r in results) == [200, 201], results
    created = next(r[1]["result"] for r in results if r[0] == 201)
    skipped = next(r[1]["result"] for r in results if r[0] == 200)
    assert skipped["status"] == "skipped"
    assert skipped["message"] == f"invoiced concurrently by {created['invoice']['number']}"
    row = dataverse_client.get("w365_licensechangelogs", change, select=["_w365_invoice_value", "statuscode"])
    assert (row["statuscode"], row["_w365_invoice_value"]) == (2, created["invoice"]["id"])
    flt = odata.eq("_w365_billingcontract_value", ids["contract_id"])
    assert count_rows(dataverse_client, "invoices", flt) == 1
