"""`w365 cycles / preview / generate` against the local Dataverse (the same service functions as the API)."""
from __future__ import annotations

import json
from decimal import Decimal

import pytest
from click.testing import CliRunner

from connectors.dataverse import odata
from plugin.cli import main
from tests import factories
from tests.e2e.conftest import count_rows


@pytest.fixture()
def run_cli(local_dataverse):
    env = {"W365_DATAVERSE_URL": local_dataverse.url, "W365_DATAVERSE_TOKEN": "local-dev-token",
           "W365_INVOICING_CYCLE_RANGE": "1"}

    def run(*args):
        return CliRunner().invoke(main, list(args), env=env, catch_exceptions=False)

    run.env = env
    return run


def test_cycles_preview_generate(run_cli, dataverse_client, world):
    ids = factories.license_contract(dataverse_client, world, start="2026-01-01", taxpercent=Decimal("10"))
    factories.create_nri(dataverse_client, ids["contract_id"], effective="2026-01-10", name="Onboarding")
    cycles = run_cli("cycles", ids["contract_id"], "--as-of", "2026-02-01")
    assert cycles.exit_code == 0, cycles.output
    assert "*  2026-01-01  2026-01-01  2026-03-31  uninvoiced" in cycles.output
    assert "2026-04-01" in cycles.output and "2026-07-01" not in cycles.output  # W365_INVOICING_CYCLE_RANGE=1
    preview = run_cli("preview", ids["contract_id"], "--cycle", "2026-01-01")
    assert preview.exit_code == 0, preview.output
    assert "Full Cycle (1)" in preview.output and "Non-Recurring (1)" in preview.output
    assert "Onboarding" in preview.output and "total 460.00 USD" in preview.output
    as_json = json.loads(run_cli("preview", ids["contract_id"], "--cycle", "2026-01-01", "--json").output)
    assert as_json["totals"]["total"] == "460.00"
    assert count_rows(dataverse_client, "invoices", odata.eq("_w365_billingcontract_value", ids["contract_id"])) == 0
    created = run_cli("generate", ids["contract_id"], "--cycle", "2026-01-01", "--json")
    assert created.exit_code == 0, created.output
    body = json.loads(created.output)
    assert body["result"]["status"] == "created" and body["result"]["invoice"]["total"] == "460.00"
    run = dataverse_client.get("w365_invoiceruns", body["run_id"], select=["w365_source", "w365_mode"])
    assert (run["w365_source"], run["w365_mode"]) == (4, 1)
    skipped = run_cli("generate", ids["contract_id"], "--cycle", "2026-01-01", "--on-existing", "skip")
    assert skipped.exit_code == 0 and skipped.output.startswith("skipped")
    again = run_cli("generate", ids["contract_id"], "--cycle", "2026-01-01", "--on-existing", "create_additional")
    assert again.exit_code == 0 and "an additional invoice was created" in again.output


def test_generate_on_an_invoiced_cycle_refuses_off_a_terminal(run_cli, dataverse_client, world):
    ids = factories.license_contract(dataverse_client, world, start="2026-01-01")
    assert run_cli("generate", ids["contract_id"], "--cycle", "2026-01-01").exit_code == 0
    refused = run_cli("generate", ids["contract_id"], "--cycle", "2026-01-01")
    assert refused.exit_code == 2
    assert "already invoiced" in refused.output and "--on-existing create_additional" in refused.output
    assert len(factories.invoices_of(dataverse_client, ids["contract_id"])) == 1


@pytest.mark.parametrize("answer, exit_code, invoices", [("y\n", 0, 2), ("n\n", 1, 1)])
def test_generate_on_an_invoiced_cycle_asks_on_a_terminal(run_cli, dataverse_client, world, monkeypatch,
                                                          answer, exit_code, invoices):
    from plugin.cli import single

    ids = factories.license_contract(dataverse_client, world, start="2026-01-01")
    assert run_cli("generate", ids["contract_id"], "--cycle", "2026-01-01").exit_code == 0
    monkeypatch.setattr(single, "stdin_is_terminal", lambda: True)
    asked = CliRunner().invoke(main, ["generate", ids["contract_id"], "--cycle", "2026-01-01"], input=answer,
                               env=run_cli.env, catch_exceptions=False)
    assert "Create an additional invoice?" in asked.output and asked.exit_code == exit_code
    assert len(factories.invoices_of(dataverse_client, ids["contract_id"])) == invoices


def test_bad_input_is_a_clear_error(run_cli, dataverse_client, world):
    ids = factories.license_contract(dataverse_client, world, start="2026-01-01")
    unknown_cycle = run_cli("preview", ids["contract_id"], "--cycle", "2026-01-05")
    assert unknown_cycle.exit_code == 1 and "unknown billing cycle" in unknown_cycle.output
    assert run_cli("cycles", "not-a-guid").exit_code == 2
    missing = run_cli("cycles", "00000000-0000-0000-0000-000000000001")
    assert missing.exit_code == 1 and "does not exist" in missing.output
    assert run_cli("generate", ids["contract_id"], "--on-existing", "replace").exit_code == 2
