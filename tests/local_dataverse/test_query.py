"""Reads over raw HTTP: $select, $filter, $orderby, $top, $expand, paging, annotations, errors."""

from __future__ import annotations

from decimal import Decimal
from urllib.parse import parse_qs, urlsplit

import pytest

from .conftest import error_code, parse

FORMATTED = "@OData.Community.Display.V1.FormattedValue"


@pytest.fixture(scope="module")
def data(api):
    """Two accounts, three contracts, subscriptions and an invoice with lines."""
    acc = {n: api.create("accounts", {"name": n}) for n in ("Alpha Corp", "Beta LLC")}
    contracts = {}
    for name, account, kind, freq in [
        ("C-Annual", "Alpha Corp", 1, 12),
        ("C-Monthly", "Alpha Corp", 1, 1),
        ("C-Items", "Beta LLC", 2, 1),
    ]:
        contracts[name] = api.create(
            "w365_billingcontracts",
            {
                "w365_name": name,
                "w365_type": kind,
                "w365_billingfrequency": freq,
                "w365_startdate": "2026-01-01",
                "w365_taxpercent": Decimal("10"),
                "w365_Customer@odata.bind": f"/accounts({acc[account]})",
            },
        )
    subs = []
    for i, (contract, price) in enumerate(
        [("C-Annual", "10.00"), ("C-Annual", "2.50"), ("C-Monthly", "99.99"), ("C-Items", None)]
    ):
        body = {
            "w365_name": f"Sub {i}",
            "w365_billingtype": 1,
            "w365_billable": i != 1,
            "w365_BillingContract@odata.bind": f"/w365_billingcontracts({contracts[contract]})",
        }
        if price:
            body["w365_priceperunit"] = Decimal(price)
        subs.append(api.create("w365_subscriptions", body))
    invoice = api.create(
        "invoices",
        {
            "name": "Inv",
            "w365_BillingContract@odata.bind": f"/w365_billingcontracts({contracts['C-Annual']})",
            "invoice_details": [
                {
                    "lineitemnumber": n,
                    "productdescription": f"Line {n}",
                    "extendedamount": Decimal(n),
                }
                for n in (3, 1, 2)
            ],
        },
    )
    return {"accounts": acc, "contracts": contracts, "subs": subs, "invoice": invoice}


def names(rows, key="w365_name"):
    return [r[key] for r in rows]


def test_select_returns_only_those_columns_plus_the_key_and_etag(api, data):
    rows = api.rows(
        "w365_billingcontracts", "$select=w365_name,_w365_customer_value&$orderby=w365_name"
    )
    assert names(rows) == ["C-Annual", "C-Items", "C-Monthly"]
    assert set(rows[0]) == {
        "@odata.etag",
        "w365_name",
        "_w365_customer_value",
        "w365_billingcontractid",
    }


def test_filter_comparisons_logic_and_string_functions(api, data):
    q = "w365_subscriptions"
    assert names(api.rows(q, "$filter=w365_priceperunit gt 5&$orderby=w365_name")) == [
        "Sub 0",
        "Sub 2",
    ]
    assert names(api.rows(q, "$filter=w365_priceperunit eq null")) == ["Sub 3"]
    assert names(api.rows(q, "$filter=w365_billable eq false")) == ["Sub 1"]
    assert names(
        api.rows(
            q,
            "$filter=not (w365_billable eq true) or w365_priceperunit ge 99.99&$orderby=w365_name",
        )
    ) == ["Sub 1", "Sub 2"]
    assert names(api.rows(q, "$filter=contains(w365_name,'UB 3')")) == ["Sub 3"]  # case-insensitive
    assert names(api.rows(q, "$filter=startswith(w365_name,'sub 2')")) == ["Sub 2"]
    contract = data["contracts"]["C-Annual"]
    rows = api.rows(
        q, f"$filter=_w365_billingcontract_value eq {contract}&$orderby=w365_priceperunit desc"
    )
    assert names(rows) == ["Sub 0", "Sub 1"]
    assert names(api.rows("w365_billingcontracts", "$filter=w365_name eq 'c-items'")) == ["C-Items"]


def test_filter_in_with_parameter_aliases_and_lookup_paths(api, data):
    ids = [data["contracts"]["C-Annual"], data["contracts"]["C-Items"]]
    values = ",".join(f'"{i}"' for i in ids)
    rows = api.rows(
        "w365_subscriptions",
        "$filter=Microsoft.Dynamics.CRM.In(PropertyName='_w365_billingcontract_value',"
        f"PropertyValues=[{values}])&$orderby=w365_name",
    )
    assert names(rows) == ["Sub 0", "Sub 1", "Sub 3"]
    aliased = api.rows(
        "w365_subscriptions",
        "$filter=Microsoft.Dynamics.CRM.In(PropertyName=@p1,PropertyValues=@p2)"
        f"&@p1='_w365_billingcontract_value'&@p2=[{values}]&$orderby=w365_name",
    )
    assert names(aliased) == names(rows)
    via_nav = api.rows("w365_billingcontracts", "$filter=w365_Customer/name eq 'beta llc'")
    assert names(via_nav) == ["C-Items"]


@pytest.mark.parametrize(
    "query, status, code",
    [
        ("$filter=w365_name eq", 400, "0x80060888"),
        ("$filter=w365_name eq 'unclosed", 400, "0x80060888"),
        ("$filter=w365_priceperunit eq 'text'", 400, "0x80060888"),
        ("$filter=nosuchcolumn eq 1", 400, "0x80048d19"),
        ("$filter=w365_billingcontract eq null", 400, "0x80048d19"),
        ("$select=nosuchcolumn", 400, "0x80048d19"),
        ("$orderby=nosuchcolumn", 400, "0x80048d19"),
        ("$orderby=w365_name sideways", 400, "0x80060888"),
        ("$top=-1", 400, "0x80060888"),
        ("$top=abc", 400, "0x80060888"),
        ("$skip=5", 400, "0x80060888"),
        ("$expand=nosuchnav", 400, "0x80060888"),
        ("$skiptoken=garbage", 400, "0x80060888"),
    ],
)
def test_bad_queries_are_dataverse_errors(api, data, query, status, code):
    resp = api.get(f"w365_subscriptions?{query}")
    assert resp.status_code == status and error_code(resp) == code, resp.text


def test_unknown_entity_set(api):
    resp = api.get("nosuchthings")
    assert resp.status_code == 404 and error_code(resp) == "0x80060888"


def test_orderby_and_top(api, data):
    rows = api.rows("w365_subscriptions", "$orderby=w365_priceperunit desc,w365_name&$top=2")
    assert names(rows) == ["Sub 2", "Sub 0"]
    asc = api.rows("w365_subscriptions", "$orderby=w365_priceperunit asc")
    assert names(asc)[0] == "Sub 3"  # null sorts first ascending


def test_expand_single_valued_with_select(api, data):
    rows = api.rows(
        "w365_billingcontracts",
        "$select=w365_name&$expand=w365_Customer($select=name)" "&$orderby=w365_name",
    )
    assert [r["w365_Customer"]["name"] for r in rows] == ["Alpha Corp", "Beta LLC", "Alpha Corp"]
    assert set(rows[0]["w365_Customer"]) == {"@odata.etag", "name", "accountid"}
    none = api.rows(
        "w365_subscriptions",
        "$select=w365_name&$expand=w365_BillingContract($select=w365_name;"
        "$expand=w365_Customer($select=name))&$filter=w365_name eq 'Sub 3'",
    )
    assert none[0]["w365_BillingContract"]["w365_Customer"]["name"] == "Beta LLC"


def test_expand_collection_with_nested_options(api, data):
    invoice = data["invoice"]
    resp = api.get(
        f"invoices({invoice})?$select=name&$expand=invoice_details($select=lineitemnumber;"
        "$filter=lineitemnumber ge 2;$orderby=lineitemnumber desc)"
    )
    body = parse(resp)
    assert [d["lineitemnumber"] for d in body["invoice_details"]] == [3, 2]
    top = parse(
        api.get(
            f"invoices?$filter=invoiceid eq {invoice}&$expand=invoice_details($orderby=lineitemnumber;$top=1)"
        )
    )
    assert [d["lineitemnumber"] for d in top["value"][0]["invoice_details"]] == [1]
    back = api.rows(
        "invoicedetails", f"$filter=_invoiceid_value eq {invoice}&$expand=invoiceid($select=name)"
    )
    assert {r["invoiceid"]["name"] for r in back} == {"Inv"}


def test_formatted_values_for_choices_booleans_and_lookups(api, data):
    rows = api.rows(
        "w365_billingcontracts",
        "$select=w365_name,w365_type,w365_billingfrequency,_w365_customer_value"
        "&$filter=w365_name eq 'C-Items'",
    )
    assert not any(
        "@" in key and key != "@odata.etag" for key in rows[0]
    )  # no annotations unless asked
    resp = api.get(
        "w365_billingcontracts?$select=w365_name,w365_type,w365_billingfrequency,_w365_customer_value,"
        "w365_autosend&$filter=w365_name eq 'C-Items'",
        headers={"Prefer": 'odata.include-annotations="*"'},
    )
    row = parse(resp)["value"][0]
    assert row["w365_type" + FORMATTED] == "Item Based"
    assert row["w365_billingfrequency" + FORMATTED] == "Monthly"
    assert row["w365_autosend" + FORMATTED] == "No"
    assert row["_w365_customer_value" + FORMATTED] == "Beta LLC"
    assert row["_w365_customer_value@Microsoft.Dynamics.CRM.lookuplogicalname"] == "account"
    assert 'odata.include-annotations="*"' in resp.headers["Preference-Applied"]
    only = parse(
        api.get(
            "w365_billingcontracts?$select=w365_type,_w365_customer_value&$filter=w365_name eq 'C-Items'",
            headers={
                "Prefer": 'odata.include-annotations="OData.Community.Display.V1.FormattedValue"'
            },
        )
    )
    row = only["value"][0]
    assert row["w365_type" + FORMATTED] == "Item Based"
    assert "_w365_customer_value@Microsoft.Dynamics.CRM.lookuplogicalname" not in row


def test_formatted_values_on_single_rows_and_expansions(api, data):
    body = parse(
        api.get(
            f"w365_subscriptions({data['subs'][0]})?$select=w365_billingtype&"
            "$expand=w365_BillingContract($select=w365_billingpolicy,w365_type)",
            headers={"Prefer": 'odata.include-annotations="*"'},
        )
    )
    assert body["w365_billingtype" + FORMATTED] == "License"
    assert body["w365_BillingContract"]["w365_type" + FORMATTED] == "Recurring"


def test_formatted_money_dates_and_numbers(api):
    currency = api.create(
        "transactioncurrencies",
        {
            "isocurrencycode": "EUR",
            "currencyname": "Euro",
            "currencysymbol": "€",
            "currencyprecision": 2,
        },
    )
    invoice = api.create(
        "invoices",
        {
            "name": "Formatted",
            "totalamount": Decimal("1234.5"),
            "duedate": "2026-02-03",
            "transactioncurrencyid@odata.bind": f"/transactioncurrencies({currency})",
        },
    )
    api.patch(f"invoices({invoice})", {"w365_runtype": 1})
    resp = api.get(
        f"invoices({invoice})?$select=totalamount,duedate,createdon,versionnumber",
        headers={"Prefer": 'odata.include-annotations="OData.Community.Display.V1.FormattedValue"'},
    )
    row = resp.json()
    assert row["totalamount" + FORMATTED] == "€1,234.50"
    assert row["duedate" + FORMATTED] == "2/3/2026"
    assert row["createdon" + FORMATTED].endswith(("AM", "PM"))
    assert row["versionnumber" + FORMATTED].replace(",", "").isdigit()


def test_count(api, data):
    body = parse(api.get("w365_subscriptions?$count=true&$filter=w365_billable eq true&$top=1"))
    assert body["@odata.count"] == 3 and len(body["value"]) == 1


def test_single_row_etag_and_conditional_get(api, data):
    resp = api.get(f"accounts({data['accounts']['Alpha Corp']})")
    etag = resp.json()["@odata.etag"]
    assert resp.headers["ETag"] == etag
    assert (
        api.get(
            f"accounts({data['accounts']['Alpha Corp']})", headers={"If-None-Match": etag}
        ).status_code
        == 304
    )


@pytest.fixture(scope="module")
def many(api):
    run = api.create("w365_invoiceruns", {"w365_runkey": "paging"})
    kind = "Microsoft.Dynamics.CRM.w365_invoicerunitem"
    targets = [
        {
            "@odata.type": kind,
            "w365_InvoiceRun@odata.bind": f"/w365_invoiceruns({run})",
            "w365_rowindex": i,
            "w365_message": None if i % 7 == 0 else f"m{i % 3}",
            "w365_result": 1 + i % 3,
        }
        for i in range(53)
    ]
    resp = api.post(
        "w365_invoicerunitems/Microsoft.Dynamics.CRM.CreateMultiple", {"Targets": targets}
    )
    assert resp.status_code == 200
    return run


class TestPaging:
    def walk(self, api, query: str, size: int, run: str):
        url, pages, rows = f"{api.root}w365_invoicerunitems?{query}", 0, []
        while url:
            resp = api.get(url, headers={"Prefer": f"odata.maxpagesize={size}"})
            assert resp.status_code == 200, resp.text
            assert resp.headers["Preference-Applied"] == f"odata.maxpagesize={size}"
            body = parse(resp)
            assert len(body["value"]) <= size
            rows += body["value"]
            url = body.get("@odata.nextLink")
            if url:
                assert url.startswith(api.root) and "$skiptoken=" in url
                assert parse_qs(urlsplit(url).query)["$filter"] == [
                    f"_w365_invoicerun_value eq {run}"
                ]
            pages += 1
        return pages, rows

    def test_next_links_walk_every_row_once_in_order(self, api, many):
        query = (
            f"$filter=_w365_invoicerun_value eq {many}&$select=w365_rowindex,w365_message,w365_result"
            "&$orderby=w365_result desc,w365_message"
        )
        pages, rows = self.walk(api, query, 10, many)
        assert pages == 6 and len(rows) == 53
        assert sorted(r["w365_rowindex"] for r in rows) == list(range(53))
        keys = [(-r["w365_result"], r["w365_message"] or "") for r in rows]
        assert keys == sorted(keys)

    def test_default_order_pages_too(self, api, many):
        pages, rows = self.walk(
            api, f"$filter=_w365_invoicerun_value eq {many}&$select=w365_rowindex", 25, many
        )
        assert pages == 3 and sorted(r["w365_rowindex"] for r in rows) == list(range(53))

    def test_top_ignores_page_size(self, api, many):
        resp = api.get(
            f"w365_invoicerunitems?$filter=_w365_invoicerun_value eq {many}&$top=30",
            headers={"Prefer": "odata.maxpagesize=10"},
        )
        body = parse(resp)
        assert len(body["value"]) == 30 and "@odata.nextLink" not in body
