"""`w365 seed` writes the demo data set through the connector, once."""
from __future__ import annotations

from click.testing import CliRunner

from plugin.cli import main
from plugin.seed import generate_dataset
from tests.e2e.conftest import count_rows

ARGS = ["seed", "--contracts", "40", "--seed", "11", "--as-of", "2026-11-26", "--invoiced-share", "0"]


def test_seed_writes_the_data_set_once(local_dataverse, dataverse_client):
    env = {"W365_DATAVERSE_URL": local_dataverse.url, "W365_DATAVERSE_TOKEN": "local-dev-token"}
    runner = CliRunner()
    first = runner.invoke(main, ARGS, env=env)
    assert first.exit_code == 0, first.output

    from datetime import date
    expected = generate_dataset(40, seed=11, today=date(2026, 11, 26)).counts()
    assert count_rows(dataverse_client, "w365_billingcontracts") == 40
    assert count_rows(dataverse_client, "w365_licensechangelogs") == expected["w365_licensechangelogs"]
    assert count_rows(dataverse_client, "w365_usagerecords") == expected["w365_usagerecords"]

    before = local_dataverse.stats()["operations"]
    second = runner.invoke(main, ARGS, env=env)
    assert second.exit_code == 0, second.output
    assert "already in Dataverse" in second.output
    assert count_rows(dataverse_client, "w365_billingcontracts") == 40
    # the second run only read (currencies + the first contract), it wrote nothing
    assert local_dataverse.stats()["operations"] - before <= 3


def test_seed_reuses_existing_currencies(local_dataverse, dataverse_client):
    codes = [row["isocurrencycode"] for row in dataverse_client.query("transactioncurrencies", select=["isocurrencycode"])]
    assert sorted(codes) == ["EUR", "JPY", "USD"]


def test_history_invoices_every_past_cycle_of_a_share_oldest_first(local_dataverse, dataverse_client):
    from datetime import date

    from plugin.seed import past_cycle_keys, seed

    today = date(2026, 11, 26)
    summary = seed(dataverse_client, contracts=30, seed=99, today=today, invoiced_share=0.5)
    data = generate_dataset(30, seed=99, today=today)
    contracts = {c["w365_billingcontractid"]: c for c in data.rows["w365_billingcontracts"]}
    schedules = list(dataverse_client.query_in(
        "w365_billingschedules", "_w365_billingcontract_value", list(contracts),
        select=["_w365_billingcontract_value", "w365_cyclestart", "statuscode"]))
    invoiced: dict[str, list[str]] = {}
    for row in schedules:
        if row["statuscode"] == 3:
            invoiced.setdefault(row["_w365_billingcontract_value"], []).append(row["w365_cyclestart"])
    assert invoiced, "no cycle was invoiced"
    assert summary["counts"]["invoices"] == len([s for s in schedules if s["statuscode"] == 3])
    for contract_id, keys in invoiced.items():
        # only past cycles (a past cycle with nothing to invoice stays without a schedule)
        assert set(keys) <= set(past_cycle_keys(contracts[contract_id], today))
