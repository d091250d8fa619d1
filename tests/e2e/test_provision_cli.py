"""`w365 provision` / `provision-status` against a fresh (unprovisioned) local Dataverse."""
from __future__ import annotations

import json

import pytest
import requests
from click.testing import CliRunner

from connectors.local_dataverse import LocalDataverse
from plugin.cli import main
from plugin.provisioning import spec

SERVICE_SETS = ("w365_invoiceruns", "w365_invoicerunitems", "w365_postinvoicetasks")
AUTH = {"Authorization": "Bearer local-dev-token"}


@pytest.fixture(scope="module")
def fresh():
    """A local Dataverse as it starts: the standard and billing tables only."""
    dv = LocalDataverse(db_path=":memory:", port=0).start()
    yield dv
    dv.stop()


@pytest.fixture(autouse=True)
def _isolated(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)


def w365(dv, *args: str):
    env = {"W365_DATAVERSE_URL": dv.url, "W365_DATAVERSE_TOKEN": "local-dev-token",
           "W365_TENANT_ID": "", "W365_CLIENT_ID": "", "W365_CLIENT_SECRET": "", "W365_AUTHORITY": ""}
    return CliRunner().invoke(main, list(args), env=env, catch_exceptions=False)


def get(dv, path: str, **params) -> requests.Response:
    return requests.get(dv.api_url + path, params=params, headers=AUTH, timeout=10)


def provisioned_state(dv) -> dict:
    """Everything provision makes, read back through the Web API (ids and all)."""
    tables = {t.logical: get(dv, f"EntityDefinitions(LogicalName='{t.logical}')",
                             **{"$expand": "Attributes,Keys"}).json() for t in spec.TABLES}
    invoice = get(dv, "EntityDefinitions(LogicalName='invoice')/Attributes",
                  **{"$select": "LogicalName,MetadataId"}).json()["value"]
    relationships = get(dv, "RelationshipDefinitions").json()["value"]
    roles = get(dv, "roles", **{"$select": "roleid,name"}).json()["value"]
    privileges = {r["roleid"]: get(dv, f"roles({r['roleid']})/roleprivileges_association",
                                   **{"$select": "name"}).json()["value"] for r in roles}
    return {"tables": tables, "invoice": invoice, "relationships": relationships, "roles": roles,
            "privileges": privileges}


def test_a_fresh_store_lacks_the_services_tables_and_the_invoice_lookup(fresh):
    sets = {s["name"] for s in get(fresh, "").json()["value"]}
    assert "invoices" in sets and not sets & set(SERVICE_SETS)
    assert get(fresh, "EntityDefinitions(LogicalName='w365_invoicerun')").status_code == 404
    invoice_columns = {a["LogicalName"] for a in get(
        fresh, "EntityDefinitions(LogicalName='invoice')/Attributes").json()["value"]}
    assert "w365_billingcontract" in invoice_columns and "w365_invoicerun" not in invoice_columns
    assert get(fresh, "w365_invoiceruns").status_code == 404


def test_status_exits_1_and_dry_run_writes_nothing(fresh):
    status = w365(fresh, "provision-status")
    assert status.exit_code == 1, status.output
    assert "missing  table      w365_invoicerun" in status.output
    assert "missing  privilege  prvCreatew365_InvoiceRun" in status.output
    before = get(fresh, "EntityDefinitions", **{"$select": "LogicalName"}).json()
    dry = w365(fresh, "provision", "--dry-run")
    assert dry.exit_code == 0, dry.output
    assert "POST EntityDefinitions" in dry.output and "POST RelationshipDefinitions" in dry.output
    assert "EntityDefinitions(LogicalName='w365_invoicerunitem')/Keys" in dry.output
    assert "Dry run: nothing was written." in dry.output
    assert get(fresh, "EntityDefinitions", **{"$select": "LogicalName"}).json() == before


def test_provision_creates_everything_and_a_second_run_changes_nothing(fresh):
    first = w365(fresh, "provision")
    assert first.exit_code == 0, first.output
    assert w365(fresh, "provision-status").exit_code == 0
    before = provisioned_state(fresh)
    second = w365(fresh, "provision")
    assert second.exit_code == 0 and "Nothing to do" in second.output, second.output
    after = provisioned_state(fresh)
    assert json.dumps(after, sort_keys=True) == json.dumps(before, sort_keys=True)
    run = before["tables"]["w365_invoicerun"]
    assert {"w365_runkey", "w365_leaseowner", "w365_leaseexpires", "w365_initiatinguser",
            "statecode"} <= {a["LogicalName"] for a in run["Attributes"]}
    assert [(k["LogicalName"], k["KeyAttributes"]) for k in run["Keys"]] == [
        ("w365_runkey", ["w365_runkey"])]
    item_keys = before["tables"]["w365_invoicerunitem"]["Keys"]
    assert [k["KeyAttributes"] for k in item_keys] == [["w365_invoicerun", "w365_rowindex"]]
    assert "w365_signature" in {a["LogicalName"] for a in
                                before["tables"]["w365_postinvoicetask"]["Attributes"]}
    assert "w365_invoicerun" in {a["LogicalName"] for a in before["invoice"]}


def test_the_role_holds_create_read_write_on_the_three_tables(fresh):
    roles = get(fresh, "roles", **{"$filter": f"name eq '{spec.ROLE_NAME}'"}).json()["value"]
    assert len(roles) == 1
    held = {p["name"] for p in get(fresh, f"roles({roles[0]['roleid']})/roleprivileges_association",
                                   **{"$select": "name"}).json()["value"]}
    for schema in ("w365_InvoiceRun", "w365_InvoiceRunItem", "w365_PostInvoiceTask"):
        assert {f"prvCreate{schema}", f"prvRead{schema}", f"prvWrite{schema}"} <= held
    assert "prvDeletew365_InvoiceRun" not in held


def test_the_provisioned_tables_behave_like_the_service_needs(fresh):
    post = lambda path, body: requests.post(fresh.api_url + path, json=body, headers=AUTH, timeout=10)
    created = post("w365_invoiceruns", {"w365_name": "r", "w365_runkey": "k-1", "w365_mode": 2})
    assert created.status_code == 204, created.text
    run_id = created.headers["OData-EntityId"].rsplit("(", 1)[1].rstrip(")")
    assert post("w365_invoiceruns", {"w365_runkey": "k-1"}).status_code == 412
    item = {"w365_InvoiceRun@odata.bind": f"/w365_invoiceruns({run_id})", "w365_rowindex": 0}
    assert post("w365_invoicerunitems", item).status_code == 204
    assert post("w365_invoicerunitems", item).status_code == 412  # w365_runrow
    by_key = get(fresh, f"w365_invoicerunitems(w365_invoicerun={run_id},w365_rowindex=0)")
    assert by_key.status_code == 200 and by_key.json()["_w365_invoicerun_value"] == run_id
    assert get(fresh, "w365_invoiceruns(w365_runkey='k-1')").json()["statecode"] == 0
