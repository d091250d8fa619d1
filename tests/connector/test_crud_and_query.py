"""Reads, paging, In-chunking, creates, updates, upserts, deletes and the bulk messages."""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal
from urllib.parse import unquote

import pytest

from connectors.dataverse import errors

from .conftest import API, error_json

G1 = "00000000-0000-0000-0000-000000000001"
G2 = "00000000-0000-0000-0000-000000000002"
CONTRACTS = API + "w365_billingcontracts"


def test_get_with_select_expand_and_formatted_values(client, rsps):
    rsps.get(
        f"{CONTRACTS}({G1})",
        json={
            "@odata.etag": 'W/"5"',
            "w365_name": "C",
            "w365_type": 1,
            "w365_type@OData.Community.Display.V1.FormattedValue": "Standard",
        },
    )
    row = client.get(
        "w365_billingcontracts",
        G1,
        select=["w365_name", "w365_type"],
        expand="w365_Customer($select=name)",
        formatted=True,
    )
    sent = rsps.calls[0].request
    assert unquote(sent.url).endswith(
        "?$select=w365_name,w365_type&$expand=w365_Customer($select=name)"
    )
    assert (
        sent.headers["Prefer"]
        == 'odata.include-annotations="OData.Community.Display.V1.FormattedValue"'
    )
    assert row["@odata.etag"] == 'W/"5"'


def test_get_by_alternate_key(client, rsps):
    url = (
        API + f"w365_billingschedules(_w365_billingcontract_value={G1},w365_cyclestart=2026-01-01)"
    )
    rsps.get(url, json={"w365_billingscheduleid": G2})
    row = client.get_by_key(
        "w365_billingschedules",
        {"_w365_billingcontract_value": G1, "w365_cyclestart": date(2026, 1, 1)},
    )
    assert row["w365_billingscheduleid"] == G2


def test_get_missing_row_raises_not_found(client, rsps):
    rsps.get(
        f"{CONTRACTS}({G1})",
        status=404,
        json=error_json("0x80040217", f"w365_billingcontract With Id = {G1} Does Not Exist"),
    )
    with pytest.raises(errors.NotFoundError, match="Does Not Exist"):
        client.get("w365_billingcontracts", G1)


def test_query_follows_next_links_verbatim_with_maxpagesize(client, rsps):
    next1 = CONTRACTS + "?$select=w365_name&$skiptoken=%3Ccookie%20pagenumber=%222%22%20/%3E"
    next2 = CONTRACTS + "?$select=w365_name&$skiptoken=%3Ccookie%20pagenumber=%223%22%20/%3E"
    rsps.get(CONTRACTS, json={"value": [{"n": 1}, {"n": 2}], "@odata.nextLink": next1})
    rsps.get(CONTRACTS, json={"value": [{"n": 3}], "@odata.nextLink": next2})
    rsps.get(CONTRACTS, json={"value": [{"n": 4}]})
    rows = list(
        client.query(
            "w365_billingcontracts",
            select=["w365_name"],
            filter="statecode eq 0",
            orderby="w365_name",
            page_size=2,
        )
    )
    assert [r["n"] for r in rows] == [1, 2, 3, 4]
    urls = [c.request.url for c in rsps.calls]
    assert urls[0] == CONTRACTS + "?$select=w365_name&$filter=statecode%20eq%200&$orderby=w365_name"
    assert urls[1:] == [next1, next2]
    assert all(c.request.headers["Prefer"] == "odata.maxpagesize=2" for c in rsps.calls)


def test_query_is_lazy_and_guards_against_a_repeated_next_link(client, rsps):
    loop = CONTRACTS + "?$skiptoken=same"
    rsps.get(CONTRACTS, json={"value": [{"n": 1}], "@odata.nextLink": loop})
    rsps.get(CONTRACTS, json={"value": [{"n": 2}], "@odata.nextLink": loop})
    rows = client.query("w365_billingcontracts")
    assert len(rsps.calls) == 0
    assert next(rows) == {"n": 1}
    assert next(rows) == {"n": 2}
    with pytest.raises(errors.DataverseError, match="nextLink repeated"):
        next(rows)


def test_query_with_top_sends_no_page_size(client, rsps):
    rsps.get(CONTRACTS, json={"value": []})
    list(client.query("w365_billingcontracts", top=3, page_size=100, formatted=True))
    sent = rsps.calls[0].request
    assert sent.url.endswith("?$top=3")
    assert "maxpagesize" not in sent.headers["Prefer"]


def test_query_in_chunks_values_into_in_filters(client, rsps):
    ids = [f"00000000-0000-0000-0000-{i:012d}" for i in range(5)]
    for chunk in (ids[:2], ids[2:4], ids[4:]):
        rsps.get(API + "w365_subscriptions", json={"value": [{"id": v} for v in chunk]})
    rows = list(
        client.query_in(
            "w365_subscriptions",
            "_w365_billingcontract_value",
            ids + ids[:1],
            select="w365_name",
            filter="statecode eq 0",
            chunk_size=2,
        )
    )
    assert [r["id"] for r in rows] == ids
    first = unquote(rsps.calls[0].request.url)
    assert (
        "$filter=(Microsoft.Dynamics.CRM.In(PropertyName='_w365_billingcontract_value',"
        f'PropertyValues=["{ids[0]}","{ids[1]}"])) and (statecode eq 0)'
    ) in first


def test_create_returns_the_id_from_odata_entity_id(client, rsps):
    rsps.post(
        API + "accounts",
        status=204,
        headers={
            "OData-EntityId": f"{API}accounts({G1.upper()})",
            "Location": f"{API}accounts({G1})",
        },
    )
    assert client.create("accounts", {"name": "A", "revenue": Decimal("10.50")}) == G1
    sent = rsps.calls[0].request
    assert json.loads(sent.body, parse_float=Decimal) == {"name": "A", "revenue": Decimal("10.50")}
    assert "Prefer" not in sent.headers


def test_create_with_representation_returns_the_201_row(client, rsps):
    rsps.post(
        API + "invoices",
        status=201,
        json={
            "invoiceid": G1,
            "totalamount": 12.3400,
            "invoice_details": [{"invoicedetailid": G2}],
        },
    )
    row = client.create(
        "invoices",
        {"name": "I", "invoice_details": [{"quantity": 1}]},
        return_representation=True,
        select=["invoiceid", "totalamount"],
    )
    sent = rsps.calls[0].request
    assert sent.headers["Prefer"] == "return=representation"
    assert sent.url.endswith("invoices?$select=invoiceid,totalamount")
    assert row["invoiceid"] == G1 and row["totalamount"] == Decimal("12.34")


def test_create_duplicate_alternate_key_is_a_duplicate_key_error(client, rsps):
    rsps.post(
        API + "w365_invoicerunitems",
        status=412,
        json=error_json("0x80060892", "A record with matching key values already exists."),
    )
    with pytest.raises(errors.DuplicateKeyError) as info:
        client.create("w365_invoicerunitems", {"w365_key": "k"})
    assert info.value.status == 412


def test_update_sends_if_match(client, rsps):
    rsps.patch(f"{CONTRACTS}({G1})", status=204)
    rsps.patch(
        f"{CONTRACTS}({G1})",
        status=412,
        json=error_json("0x80060882", "The version of the existing record doesn't match"),
    )
    client.update("w365_billingcontracts", G1, {"w365_name": "x"})
    with pytest.raises(errors.ConcurrencyError):
        client.update("w365_billingcontracts", G1, {"w365_name": "y"}, etag='W/"7"')
    assert [c.request.headers["If-Match"] for c in rsps.calls] == ["*", 'W/"7"']


def test_upsert_by_alternate_key_with_conditions(client, rsps):
    url = (
        API + f"w365_billingschedules(_w365_billingcontract_value={G1},w365_cyclestart=2026-01-01)"
    )
    keys = {"_w365_billingcontract_value": G1, "w365_cyclestart": date(2026, 1, 1)}
    rsps.patch(url, status=204, headers={"OData-EntityId": API + f"w365_billingschedules({G2})"})
    rsps.patch(
        url,
        status=412,
        json=error_json("0x80060892", "A record with matching key values already exists."),
    )
    rsps.patch(url, status=404, json=error_json("0x80040217", "Does Not Exist"))
    assert client.upsert("w365_billingschedules", keys, {"w365_status": 2}) == G2
    with pytest.raises(errors.DuplicateKeyError):
        client.upsert("w365_billingschedules", keys, {"w365_status": 2}, only_create=True)
    with pytest.raises(errors.NotFoundError):
        client.upsert("w365_billingschedules", keys, {"w365_status": 2}, only_update=True)
    headers = [c.request.headers for c in rsps.calls]
    assert "If-Match" not in headers[0] and "If-None-Match" not in headers[0]
    assert headers[1]["If-None-Match"] == "*" and headers[2]["If-Match"] == "*"
    with pytest.raises(ValueError):
        client.upsert("w365_billingschedules", keys, {}, only_create=True, only_update=True)


def test_upsert_by_id_falls_back_to_the_id(client, rsps):
    rsps.patch(f"{CONTRACTS}({G1})", status=204)
    assert client.upsert("w365_billingcontracts", G1, {"w365_name": "x"}) == G1


def test_delete_with_and_without_etag(client, rsps):
    rsps.delete(f"{CONTRACTS}({G1})", status=204)
    rsps.delete(f"{CONTRACTS}({G1})", status=204)
    client.delete("w365_billingcontracts", G1)
    client.delete("w365_billingcontracts", G1, etag='W/"9"')
    assert "If-Match" not in rsps.calls[0].request.headers
    assert rsps.calls[1].request.headers["If-Match"] == 'W/"9"'


def test_create_multiple_and_update_multiple(client, rsps):
    rsps.post(
        API + "invoicedetails/Microsoft.Dynamics.CRM.CreateMultiple", json={"Ids": [G1.upper(), G2]}
    )
    rsps.post(API + "invoicedetails/Microsoft.Dynamics.CRM.UpdateMultiple", status=204)
    ids = client.create_multiple(
        "invoicedetails", "invoicedetail", [{"quantity": Decimal("1")}, {"quantity": 2}]
    )
    assert ids == [G1, G2]
    client.update_multiple(
        "invoicedetails", "invoicedetail", [{"invoicedetailid": G1, "quantity": 3}]
    )
    created = json.loads(rsps.calls[0].request.body)
    assert created == {
        "Targets": [
            {"quantity": 1, "@odata.type": "Microsoft.Dynamics.CRM.invoicedetail"},
            {"quantity": 2, "@odata.type": "Microsoft.Dynamics.CRM.invoicedetail"},
        ]
    }
    updated = json.loads(rsps.calls[1].request.body)
    assert updated["Targets"][0]["@odata.type"] == "Microsoft.Dynamics.CRM.invoicedetail"
    assert client.create_multiple("invoicedetails", "invoicedetail", []) == []


def test_call_posts_an_unbound_action(client, rsps):
    rsps.post(API + "w365_GenerateInvoice", json={"Result": "ok", "Total": 10.50})
    rsps.post(API + "w365_Ping", status=204)
    assert client.call("w365_GenerateInvoice", {"Amount": Decimal("10.50")}) == {
        "Result": "ok",
        "Total": Decimal("10.50"),
    }
    assert rsps.calls[0].request.body == b'{"Amount":10.50}'
    assert client.call("w365_Ping") is None


OFF_ORG_LINKS = [
    "https://evil.example.com/api/data/v9.2/w365_billingcontracts?$skiptoken=x",
    "http://org.example.com/api/data/v9.2/w365_billingcontracts?$skiptoken=x",
    "https://org.example.com/other/w365_billingcontracts?$skiptoken=x",
    "/api/data/v9.2/w365_billingcontracts?$skiptoken=x",
]


@pytest.mark.parametrize("link", OFF_ORG_LINKS)
def test_query_never_follows_a_next_link_off_the_org(client, rsps, link):
    rsps.get(CONTRACTS, json={"value": [{"n": 1}], "@odata.nextLink": link})
    rows = client.query("w365_billingcontracts")
    assert next(rows) == {"n": 1}
    with pytest.raises(errors.DataverseError, match="nextLink outside"):
        next(rows)  # the bearer token is never sent there
    assert len(rsps.calls) == 1


def test_a_next_link_differing_only_in_host_case_is_followed(client, rsps):
    link = "https://ORG.example.com/api/data/v9.2/w365_billingcontracts?$skiptoken=x"
    rsps.get(CONTRACTS, json={"value": [{"n": 1}], "@odata.nextLink": link})
    rsps.get(link, json={"value": [{"n": 2}]})
    assert [r["n"] for r in client.query("w365_billingcontracts")] == [1, 2]
