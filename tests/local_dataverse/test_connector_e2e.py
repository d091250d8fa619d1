"""The connector against the in-process local Dataverse: the DESIGN §12 behaviours it uses."""

from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import date
from decimal import Decimal

import pytest

from connectors.dataverse import Batch, errors, odata
from tests import factories
from tests.conftest import make_client

FORMATTED = "@OData.Community.Display.V1.FormattedValue"


@pytest.fixture(scope="module")
def world(dataverse_client):
    return factories.make_world(dataverse_client)


@pytest.fixture
def fresh_stats(local_dataverse):
    local_dataverse.set_faults(rate_429=0, rate_503=0, rate_reset=0, latency_ms=0)
    local_dataverse.reset_stats()
    yield local_dataverse
    local_dataverse.set_faults(rate_429=0, rate_503=0, rate_reset=0, latency_ms=0)


def new_contract(client, world, **columns) -> str:
    return factories.create_contract(
        client, account_id=world.account_id, currency_id=world.currency_id, **columns
    )


def test_crud_round_trip_with_etags_and_decimals(dataverse_client, world):
    client = dataverse_client
    contract_id = new_contract(client, world, discountpercent=Decimal("12.3456"))
    row = client.get(
        "w365_billingcontracts",
        contract_id,
        select=["w365_name", "w365_discountpercent", "w365_startdate", "_w365_customer_value"],
    )
    assert row["w365_discountpercent"] == Decimal("12.3456") and isinstance(
        row["w365_discountpercent"], Decimal
    )
    assert row["w365_startdate"] == "2026-01-01" and row["_w365_customer_value"] == world.account_id
    etag = row["@odata.etag"]
    client.update("w365_billingcontracts", contract_id, {"w365_name": "renamed"}, etag=etag)
    with pytest.raises(errors.ConcurrencyError) as stale:
        client.update("w365_billingcontracts", contract_id, {"w365_name": "again"}, etag=etag)
    assert stale.value.status == 412 and stale.value.code == "0x80060882"
    assert (
        client.get("w365_billingcontracts", contract_id, select="w365_name")["w365_name"]
        == "renamed"
    )
    client.delete("w365_billingcontracts", contract_id)
    with pytest.raises(errors.NotFoundError) as missing:
        client.get("w365_billingcontracts", contract_id)
    assert missing.value.code == "0x80040217"
    with pytest.raises(errors.NotFoundError):
        client.update(
            "w365_billingcontracts", contract_id, {"w365_name": "ghost"}
        )  # If-Match: * never creates


def test_create_with_representation_and_money_exact(dataverse_client, world):
    row = dataverse_client.create(
        "w365_subscriptions",
        {
            "w365_name": "Exact",
            "w365_priceperunit": Decimal("1234.5678"),
            "w365_quantity": Decimal("3.0000000001"),
        },
        return_representation=True,
        select=["w365_subscriptionid", "w365_priceperunit", "w365_quantity"],
    )
    assert row["w365_priceperunit"] == Decimal("1234.5678")
    assert row["w365_quantity"] == Decimal("3.0000000001")
    assert odata.is_guid(row["w365_subscriptionid"])


def test_errors_for_bad_segment_filter_and_column(dataverse_client):
    with pytest.raises(errors.NotFoundError) as segment:
        dataverse_client.get("nosuchtables", str(uuid.uuid4()))
    assert segment.value.code == "0x80060888"
    with pytest.raises(errors.BadRequestError) as bad_filter:
        list(dataverse_client.query("accounts", filter="name eq"))
    assert bad_filter.value.code == "0x80060888"
    with pytest.raises(errors.BadRequestError) as column:
        dataverse_client.create("accounts", {"nosuchcolumn": 1})
    assert column.value.code == "0x80048d19"


def test_upsert_by_alternate_key_and_duplicate_keys(dataverse_client, world):
    client = dataverse_client
    contract_id = new_contract(client, world)
    keys = {"_w365_billingcontract_value": contract_id, "w365_cyclestart": date(2026, 4, 1)}
    with pytest.raises(errors.NotFoundError):
        client.upsert("w365_billingschedules", keys, {"statuscode": 1}, only_update=True)
    schedule_id = client.upsert(
        "w365_billingschedules", keys, {"w365_name": "Q2", "statuscode": 1}, only_create=True
    )
    row = client.get_by_key(
        "w365_billingschedules",
        keys,
        select=["w365_name", "w365_cyclestart", "_w365_billingcontract_value"],
    )
    assert row["w365_billingscheduleid"] == schedule_id
    assert (row["w365_cyclestart"], row["_w365_billingcontract_value"]) == (
        "2026-04-01",
        contract_id,
    )
    with pytest.raises(errors.DuplicateKeyError) as duplicate:
        client.upsert("w365_billingschedules", keys, {"w365_name": "again"}, only_create=True)
    assert duplicate.value.status == 412
    assert client.upsert("w365_billingschedules", keys, {"w365_name": "Q2 updated"}) == schedule_id
    assert (
        client.get("w365_billingschedules", schedule_id, select="w365_name")["w365_name"]
        == "Q2 updated"
    )

    run_key = f"run-{uuid.uuid4()}"
    client.create("w365_invoiceruns", {"w365_name": "r", "w365_runkey": run_key})
    with pytest.raises(errors.DuplicateKeyError) as same_key:
        client.create("w365_invoiceruns", {"w365_name": "r2", "w365_runkey": run_key})
    assert same_key.value.code == "0x80060892"


def test_paging_follows_next_links_and_counts_requests(dataverse_client, world, fresh_stats):
    client = dataverse_client
    tag = uuid.uuid4().hex[:8]
    ids = client.create_multiple(
        "accounts", "account", [{"name": f"page-{tag}-{i:02d}"} for i in range(12)]
    )
    assert len(ids) == 12 and len(set(ids)) == 12
    fresh_stats.reset_stats()
    rows = list(
        client.query(
            "accounts",
            select=["name"],
            filter=f"startswith(name,'page-{tag}')",
            orderby="name",
            page_size=5,
        )
    )
    assert [r["name"] for r in rows] == [f"page-{tag}-{i:02d}" for i in range(12)]
    assert fresh_stats.stats()["http_requests"] == 3
    in_rows = list(client.query_in("accounts", "accountid", ids, select="name", chunk_size=5))
    assert sorted(r["accountid"] for r in in_rows) == sorted(ids)


def test_one_client_shared_by_eight_threads(dataverse_client):
    with ThreadPoolExecutor(max_workers=8) as pool:
        ids = list(
            pool.map(
                lambda i: dataverse_client.create("accounts", {"name": f"thread {i}"}), range(24)
            )
        )
    assert len(set(ids)) == 24
    rows = list(
        dataverse_client.query_in("accounts", "accountid", ids, select="name", chunk_size=10)
    )
    assert sorted(r["name"] for r in rows) == sorted(f"thread {i}" for i in range(24))


def test_update_multiple(dataverse_client):
    client = dataverse_client
    ids = client.create_multiple("accounts", "account", [{"name": "um-1"}, {"name": "um-2"}])
    client.update_multiple(
        "accounts",
        "account",
        [{"accountid": i, "accountnumber": f"N{n}"} for n, i in enumerate(ids)],
    )
    assert [client.get("accounts", i, select="accountnumber")["accountnumber"] for i in ids] == [
        "N0",
        "N1",
    ]


def test_expand_and_formatted_values(dataverse_client, world):
    client = dataverse_client
    contract_id = new_contract(client, world)
    invoice_id = client.create(
        "invoices",
        {
            "name": "with lines",
            "w365_BillingContract@odata.bind": odata.bind("w365_billingcontracts", contract_id),
            "invoice_details": [
                {
                    "productdescription": "a",
                    "quantity": Decimal("1"),
                    "priceperunit": Decimal("2.50"),
                },
                {
                    "productdescription": "b",
                    "quantity": Decimal("2"),
                    "priceperunit": Decimal("0.10"),
                },
            ],
        },
    )
    invoice = client.get(
        "invoices",
        invoice_id,
        select=["name", "invoicenumber"],
        expand="invoice_details($select=productdescription,priceperunit;$orderby=productdescription)",
    )
    assert [d["priceperunit"] for d in invoice["invoice_details"]] == [
        Decimal("2.50"),
        Decimal("0.10"),
    ]
    assert invoice["invoicenumber"]
    contract = client.get(
        "w365_billingcontracts",
        contract_id,
        select=["w365_type", "_w365_customer_value"],
        expand="w365_Customer($select=name)",
        formatted=True,
    )
    assert contract["w365_type" + FORMATTED] == "Recurring"
    customer_name = contract["w365_Customer"]["name"]
    assert contract["_w365_customer_value" + FORMATTED] == customer_name
    rows = list(
        client.query(
            "w365_billingcontracts",
            select=["w365_type"],
            filter=odata.eq("w365_billingcontractid", contract_id),
            formatted=True,
        )
    )
    assert rows[0]["w365_type" + FORMATTED] == "Recurring"


def invoice_changeset(
    batch: Batch, contract_id: str, schedule_id: str, etag: str, run_id: str, row: int, tag: object
) -> str:
    cs = batch.changeset(tag=tag)
    invoice = cs.create(
        "invoices",
        {
            "name": f"batch {row}",
            "w365_BillingContract@odata.bind": odata.bind("w365_billingcontracts", contract_id),
            "invoice_details": [
                {
                    "productdescription": "line",
                    "quantity": Decimal("1"),
                    "priceperunit": Decimal("9.99"),
                }
            ],
        },
    )
    cs.update(
        "w365_billingschedules",
        schedule_id,
        {"statuscode": 3, "w365_Invoice@odata.bind": invoice},
        etag=etag,
    )
    cs.create(
        "w365_invoicerunitems",
        {
            "w365_name": f"item {row}",
            "w365_rowindex": row,
            "w365_result": 1,
            "w365_InvoiceRun@odata.bind": odata.bind("w365_invoiceruns", run_id),
            "w365_Invoice@odata.bind": invoice,
        },
    )
    return invoice


def test_batch_changesets_content_ids_and_continue_on_error(dataverse_client, world, fresh_stats):
    client = dataverse_client
    contract_id = new_contract(client, world)
    run_id = client.create(
        "w365_invoiceruns", {"w365_name": "batch run", "w365_runkey": f"k-{uuid.uuid4()}"}
    )
    schedules = [
        client.upsert(
            "w365_billingschedules",
            {"_w365_billingcontract_value": contract_id, "w365_cyclestart": date(2026, m, 1)},
            {"statuscode": 1},
        )
        for m in (1, 2)
    ]
    etags = [
        client.get("w365_billingschedules", s, select="statuscode")["@odata.etag"]
        for s in schedules
    ]
    fresh_stats.reset_stats()

    batch = Batch()
    batch.get(
        "w365_billingschedules",
        params={
            "$select": "statuscode",
            "$filter": odata.eq("_w365_billingcontract_value", contract_id),
        },
    )
    first = invoice_changeset(batch, contract_id, schedules[0], etags[0], run_id, row=0, tag="ok")
    invoice_changeset(
        batch, contract_id, schedules[1], etags[1], run_id, row=0, tag="dup"
    )  # same run row key
    result = client.execute_batch(batch, continue_on_error=True)

    assert fresh_stats.stats()["http_requests"] == 1
    assert fresh_stats.stats()["operations"] == len(batch) == 7
    assert result.requests[0].status == 200 and len(result.requests[0].json["value"]) == 2
    ok, dup = result.changesets
    assert (ok.tag, ok.ok) == ("ok", True) and [p.status for p in ok.parts] == [204, 204, 204]
    invoice_id = ok.entity_id(first)
    assert (
        client.get("w365_billingschedules", schedules[0], select="_w365_invoice_value")[
            "_w365_invoice_value"
        ]
        == invoice_id
    )
    assert (dup.tag, dup.ok) == ("dup", False) and isinstance(dup.error, errors.DuplicateKeyError)
    assert len(dup.parts) == 1
    # nothing of the failed change set persisted: schedule untouched, one invoice "batch 0"
    assert client.get("w365_billingschedules", schedules[1], select="statuscode")["statuscode"] == 1
    names = [
        r["name"]
        for r in client.query(
            "invoices", select="name", filter=odata.eq("_w365_billingcontract_value", contract_id)
        )
    ]
    assert names == ["batch 0"]

    # without continue-on-error the batch stops at the failing change set (etags[0] is stale)
    stale = Batch()
    invoice_changeset(stale, contract_id, schedules[0], etags[0], run_id, row=5, tag="stale etag")
    invoice_changeset(stale, contract_id, schedules[1], etags[1], run_id, row=6, tag="never ran")
    stopped = client.execute_batch(stale)
    assert isinstance(stopped.changesets[0].error, errors.ConcurrencyError)
    assert isinstance(stopped.changesets[1].error, errors.NotExecutedError)


def test_impersonation_of_a_role_0_user_gets_403_on_invoice_creates(dataverse_client, world):
    no_role = dataverse_client.with_options(caller_id=world.no_role_user["systemuserid"])
    by_object_id = dataverse_client.with_options(
        caller_object_id=world.no_role_user["azureactivedirectoryobjectid"]
    )
    billing = dataverse_client.with_options(caller_id=world.billing_user["systemuserid"])
    for client in (no_role, by_object_id):
        with pytest.raises(errors.PrivilegeError) as denied:
            client.create("invoices", {"name": "denied"})
        assert denied.value.status == 403 and denied.value.code == "0x80040220"
        assert "prvCreateInvoice" in denied.value.message
    with pytest.raises(errors.PrivilegeError):
        no_role.create_multiple("invoices", "invoice", [{"name": "denied"}])
    batch = Batch()
    batch.changeset(tag="x").create("invoices", {"name": "denied"})
    assert isinstance(
        no_role.execute_batch(batch, continue_on_error=True).changesets[0].error,
        errors.PrivilegeError,
    )
    assert odata.is_guid(billing.create("invoices", {"name": "allowed"}))
    assert no_role.create("accounts", {"name": "reads and other writes still work"})


def test_faults_429_503_and_resets_are_retried(local_dataverse, world, fresh_stats):
    client = make_client(
        local_dataverse, retry_budget_s=30.0, backoff_base_s=0.005, backoff_cap_s=0.05
    )
    local_dataverse.set_faults(rate_429=0.25, rate_503=0.2, rate_reset=0.2, retry_after_s=0)
    ids = [client.create("accounts", {"name": f"faulty {i}"}) for i in range(15)]
    batch = Batch()
    for i in range(5):
        batch.changeset(tag=i).create("accounts", {"name": f"faulty batch {i}"})
    result = client.execute_batch(batch, continue_on_error=True)
    rows = list(client.query_in("accounts", "accountid", ids, select="name", page_size=5))
    local_dataverse.set_faults(rate_429=0, rate_503=0, rate_reset=0)
    stats = local_dataverse.stats()

    assert result.ok and len(ids) == 15 and len(rows) == 15
    assert stats["faults_429"] + stats["faults_503"] + stats["resets"] > 0
    assert stats["http_requests"] > 15 + 1 + 1
    names = [
        r["name"]
        for r in client.query("accounts", select="name", filter="startswith(name,'faulty batch')")
    ]
    assert sorted(names) == [f"faulty batch {i}" for i in range(5)]  # the batch never half-applied


def test_throttling_beyond_the_budget_raises_with_retry_after(local_dataverse, fresh_stats):
    client = make_client(local_dataverse, retry_budget_s=0.5)
    local_dataverse.set_faults(rate_429=1.0, retry_after_s=1)
    with pytest.raises(errors.ThrottledError) as throttled:
        client.create("accounts", {"name": "never"})
    assert throttled.value.retry_after == 1 and throttled.value.code == "0x80072322"
    assert fresh_stats.stats()["operations"] == 0
