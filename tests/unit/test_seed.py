"""The demo data generator: reproducible, and covering every kind of contract and item."""
from __future__ import annotations

from datetime import date

from plugin.seed import generate_dataset

TODAY = date(2026, 11, 26)


def test_same_arguments_same_rows():
    assert generate_dataset(50, seed=7, today=TODAY).rows == generate_dataset(50, seed=7, today=TODAY).rows


def test_other_seed_other_rows():
    assert generate_dataset(50, seed=7, today=TODAY).rows != generate_dataset(50, seed=8, today=TODAY).rows


def test_mix_covers_every_kind():
    data = generate_dataset(250, seed=365, today=TODAY)
    contracts = data.rows["w365_billingcontracts"]
    assert len(contracts) == 250
    assert {c["w365_type"] for c in contracts} == {1, 2}
    assert {c["w365_billingfrequency"] for c in contracts} == {1, 3, 12, 36}
    assert {c["w365_billingpolicy"] for c in contracts} == {1, 2}
    assert {c["w365_prorateunit"] for c in contracts} == {1, 2}
    assert any(c["w365_enddate"] for c in contracts)
    assert any(c["w365_invoiceotpimmediately"] for c in contracts)
    assert {c["w365_startdate"][8:] for c in contracts} >= {"29", "30", "31"} or any(
        c["w365_startdate"].endswith(("29", "30", "31")) for c in contracts)
    assert {s["w365_billingtype"] for s in data.rows["w365_subscriptions"]} == {1, 2, 3}
    change_types = {l["w365_changetype"] for l in data.rows["w365_licensechangelogs"]}
    assert {1, 2} <= change_types
    deltas = [l["w365_quantitychange"] for l in data.rows["w365_licensechangelogs"] if l["w365_changetype"] == 2]
    assert any(d > 0 for d in deltas) and any(d < 0 for d in deltas)
    assert data.rows["w365_nonrecurringitems"] and data.rows["w365_usagerecords"]
    assert {u["w365_billingrole"] for u in data.rows["systemusers"]} == {0, 1, 2, 3}
    assert {c["isocurrencycode"] for c in data.rows["transactioncurrencies"]} == {"USD", "EUR", "JPY"}


def test_ids_are_unique_and_dates_valid():
    data = generate_dataset(300, seed=1, today=TODAY)
    ids = [row[key] for rows in data.rows.values() for row in rows for key in row if key.endswith("id") and key.startswith(("w365_", "account", "contact", "systemuser", "transaction")) and isinstance(row[key], str) and len(row[key]) == 36]
    assert len(ids) == len(set(ids))
    for lcl in data.rows["w365_licensechangelogs"]:
        date.fromisoformat(lcl["w365_effectivedate"])


def test_ten_thousand_contracts_generate():
    data = generate_dataset(10_000, seed=365, today=TODAY)
    assert len(data.contract_ids) == 10_000


def test_read_rows_turn_binds_into_lookup_values():
    data = generate_dataset(5, seed=3, today=TODAY)
    written = data.rows["w365_billingcontracts"][0]
    read = data.read_rows("w365_billingcontracts")[0]
    account_id = written["w365_Customer@odata.bind"].split("(")[1].rstrip(")")
    assert read["_w365_customer_value"] == account_id
    assert not any(key.endswith("@odata.bind") for key in read)
    assert read["w365_name"] == written["w365_name"]
