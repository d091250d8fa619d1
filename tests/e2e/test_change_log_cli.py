"""`w365 preview/generate ID --change-log [--as-of D]` against the local Dataverse."""
from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest
from click.testing import CliRunner

from connectors.dataverse import odata
from plugin.cli import main
from tests import factories
from tests.e2e.conftest import count_rows


@pytest.fixture()
def run_cli(local_dataverse):
    env = {"W365_DATAVERSE_URL": local_dataverse.url, "W365_DATAVERSE_TOKEN": "local-dev-token"}

    def run(*args):
        return CliRunner().invoke(main, list(args), env=env, catch_exceptions=False)

    return run


def invoice_count(client, contract_id):
    return count_rows(client, "invoices", odata.eq("_w365_billingcontract_value", contract_id))


def test_preview_and_generate_a_change_log(run_cli, dataverse_client, world):
    client = dataverse_client
    ids = factories.license_contract(client, world, start="2026-01-01", frequency=3)
    cid = ids["contract_id"]
    assert run_cli("generate", cid, "--cycle", "2026-01-01").exit_code == 0
    lcl = factories.create_change_log(client, ids["subscription_id"], cid, effective="2026-02-15", delta=4)

    preview = run_cli("preview", cid, "--change-log", "--as-of", "2026-03-01")
    assert preview.exit_code == 0, preview.output
    assert "Change log as of 2026-03-01 (cycle from 2026-01-01)" in preview.output
    assert "Mid-Cycle Change (1)" in preview.output and "total 72.00 USD" in preview.output
    assert "Full Cycle" not in preview.output
    assert invoice_count(client, cid) == 1

    created = run_cli("generate", cid, "--change-log", "--as-of", "2026-03-01", "--json")
    assert created.exit_code == 0, created.output
    result = json.loads(created.output)["result"]
    assert result["status"] == "created" and result["invoice"]["total"] == "72.00"
    assert result["cycle"] == "change-log:2026-03-01"
    assert client.get("w365_licensechangelogs", lcl)["statuscode"] == 2
    invoice = client.get("invoices", result["invoice"]["id"], select=["w365_category"])
    assert invoice["w365_category"] == 3

    # today by default: the change was consumed, so nothing is left to invoice
    again = run_cli("generate", cid, "--change-log")
    assert again.exit_code == 0 and again.output.startswith("skipped") and "nothing to invoice" in again.output
    assert invoice_count(client, cid) == 2


def test_bad_change_log_options(run_cli, dataverse_client, world):
    monthly = factories.license_contract(dataverse_client, world, start="2026-01-01", frequency=1)["contract_id"]
    refused = run_cli("preview", monthly, "--change-log", "--as-of", "2026-03-01")
    assert refused.exit_code == 1 and "change_log_not_allowed" in refused.output
    with_cycle = run_cli("generate", monthly, "--change-log", "--cycle", "2026-01-01")
    assert with_cycle.exit_code == 2 and "--change-log takes no --cycle" in with_cycle.output
    tomorrow = (datetime.now(timezone.utc).date() + timedelta(days=1)).isoformat()
    quarterly = factories.license_contract(dataverse_client, world, start="2026-01-01", frequency=3)["contract_id"]
    future = run_cli("generate", quarterly, "--change-log", "--as-of", tomorrow)
    assert future.exit_code == 1 and "in the future" in future.output
    earlier = run_cli("generate", quarterly, "--change-log", "--as-of", "2026-05-01")
    assert earlier.exit_code == 1 and "earlier billing cycles have not been invoiced" in earlier.output
    assert invoice_count(dataverse_client, quarterly) == 0 and invoice_count(dataverse_client, monthly) == 0
