"""The registry matches DESIGN §3, files persist, transactions are all-or-nothing, the CLI runs."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest
import requests

from connectors.local_dataverse import LocalDataverse
from connectors.local_dataverse.errors import DataverseFault
from connectors.local_dataverse.store import Store
from connectors.local_dataverse.schema import LOOKUP

from .conftest import Api

W365 = [sys.executable, "-c", "from plugin.cli import main; main()"]


def test_every_design_table_and_key_is_registered(local_dataverse):
    TABLES = local_dataverse.store.tables
    expected = {
        "accounts",
        "contacts",
        "systemusers",
        "transactioncurrencies",
        "w365_billingcontracts",
        "w365_billingschedules",
        "w365_subscriptions",
        "w365_licensechangelogs",
        "w365_nonrecurringitems",
        "w365_usagerecords",
        "invoices",
        "invoicedetails",
        "w365_invoiceruns",
        "w365_invoicerunitems",
        "w365_postinvoicetasks",
        "serviceendpoints",
        "sdkmessages",
        "sdkmessagefilters",
        "sdkmessageprocessingsteps",
        "customapis",
        "customapirequestparameters",
        "customapiresponseproperties",
    }
    assert expected <= set(TABLES)
    assert TABLES["w365_billingschedules"].alternate_keys["w365_contractcycle"] == (
        "w365_billingcontract",
        "w365_cyclestart",
    )
    assert TABLES["w365_invoiceruns"].alternate_keys["w365_runkey"] == ("w365_runkey",)
    assert TABLES["w365_invoicerunitems"].alternate_keys["w365_runrow"] == (
        "w365_invoicerun",
        "w365_rowindex",
    )
    assert TABLES["invoices"].collections["invoice_details"].fk == "invoiceid"
    navs = {
        (t, c.nav)
        for t, table in TABLES.items()
        for c in table.columns.values()
        if c.type == LOOKUP
    }
    for pair in [
        ("w365_billingcontracts", "w365_Customer"),
        ("w365_billingcontracts", "transactioncurrencyid"),
        ("w365_billingcontracts", "w365_PrimaryBillingContact"),
        ("contacts", "parentcustomerid_account"),
        ("invoices", "customerid_account"),
        ("invoicedetails", "invoiceid"),
        ("invoicedetails", "w365_LicenseChangeLog"),
        ("w365_invoiceruns", "w365_InitiatingUser"),
        ("sdkmessageprocessingsteps", "eventhandler_serviceendpoint"),
    ]:
        assert pair in navs
    for table in TABLES.values():
        assert {"createdon", "modifiedon", table.primary_id} <= set(table.columns)
        for col in table.columns.values():
            assert col.type != LOOKUP or col.target in TABLES


def test_a_transaction_rolls_back_everything_on_error():
    store = Store()
    table = store.tables["accounts"]
    with pytest.raises(DataverseFault):
        with store.transaction():
            store.insert(table, {"accountid": "00000000-0000-0000-0000-00000000000a", "name": "a"})
            with store.transaction():  # nested: a savepoint
                store.insert(
                    table, {"accountid": "00000000-0000-0000-0000-00000000000b", "name": "b"}
                )
            store.insert(
                table, {"accountid": "00000000-0000-0000-0000-00000000000a", "name": "dup"}
            )
    assert store.query('SELECT COUNT(*) FROM "accounts"') == [(0,)]
    with store.transaction():
        with pytest.raises(DataverseFault):
            with store.transaction():
                store.insert(
                    table, {"accountid": "00000000-0000-0000-0000-00000000000c", "name": "c"}
                )
                store.insert(
                    table, {"accountid": "00000000-0000-0000-0000-00000000000c", "name": "c"}
                )
        store.insert(table, {"accountid": "00000000-0000-0000-0000-00000000000d", "name": "d"})
    assert store.query('SELECT "name" FROM "accounts"') == [("d",)]
    store.close()


def test_a_database_file_persists_rows_numbers_and_tokens(tmp_path):
    db = str(tmp_path / "dv.sqlite3")
    with LocalDataverse(db_path=db) as first:
        api = Api(first)
        ident = api.create("accounts", {"name": "persisted"})
        number = api.post(
            "invoices?$select=invoicenumber",
            {"name": "i"},
            headers={"Prefer": "return=representation"},
        ).json()["invoicenumber"]
        token = requests.post(
            f"{first.authority}/oauth2/v2.0/token",
            timeout=10,
            data={
                "grant_type": "client_credentials",
                "client_id": "local-client",
                "client_secret": "local-secret",
                "scope": f"{first.url}/.default",
            },
        ).json()["access_token"]
        etag = api.row("accounts", ident)["@odata.etag"]
        port = int(first.url.rsplit(":", 1)[1])
    # the same URL again: a token's audience is the server's URL
    with LocalDataverse(db_path=db, port=port) as second:
        api = Api(second)
        assert api.row("accounts", ident)["name"] == "persisted"
        assert api.get("accounts", token=token).status_code == 200
        api.patch(f"accounts({ident})", {"name": "again"})
        assert api.row("accounts", ident)["@odata.etag"] != etag  # versions keep increasing
        later = api.post(
            "invoices?$select=invoicenumber",
            {"name": "j"},
            headers={"Prefer": "return=representation"},
        ).json()["invoicenumber"]
        assert int(later[4:]) == int(number[4:]) + 1


def test_concurrent_writers_are_safe(local_dataverse):
    api = Api(local_dataverse)
    errors: list[Exception] = []

    def writer(n: int) -> None:
        try:
            mine = Api(local_dataverse)
            for i in range(15):
                mine.create("w365_invoiceruns", {"w365_runkey": f"concurrent-{n}-{i}"})
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    rows = api.rows(
        "w365_invoiceruns", "$filter=startswith(w365_runkey,'concurrent-')&$select=w365_runkey"
    )
    assert len(rows) == 60


def test_the_cli_serves_in_the_foreground(tmp_path):
    db = tmp_path / "sub" / "cli.sqlite3"
    proc = subprocess.Popen(
        [
            *W365,
            "dataverse-local",
            "--port",
            "0",
            "--db",
            str(db),
            "--fault-429-rate",
            "0",
            "--latency-ms",
            "0",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=Path(__file__).resolve().parents[2],
    )
    try:
        first = proc.stdout.readline()
        assert first.startswith("Local Dataverse: http://127.0.0.1:"), first + proc.stderr.read()
        url = first.split(": ", 1)[1].strip()
        resp = requests.get(
            f"{url}/api/data/v9.2/accounts",
            headers={"Authorization": "Bearer local-dev-token"},
            timeout=10,
        )
        assert resp.status_code == 200 and resp.json()["value"] == []
        assert db.exists()
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    assert proc.returncode in (0, -signal.SIGINT, 130)


def test_the_cli_rejects_a_bad_rate():
    result = subprocess.run(
        [*W365, "dataverse-local", "--fault-503-rate", "2"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=Path(__file__).resolve().parents[2],
        env={**os.environ},
    )
    assert result.returncode == 2 and "fault-503-rate" in result.stderr
