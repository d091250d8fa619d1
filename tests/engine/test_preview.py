"""The preview body (DESIGN §7) and its preview_hash."""

import json
from dataclasses import replace
from decimal import Decimal

from plugin.engine import BillingType, InvoiceRef, build_invoice, preview_hash, preview_json

from .builders import contract, d, data, lcl, nri, schedule, sub, usage

AS_OF = d("2026-01-15")


def example():
    s = sub("License", "12.00", taxable=True, id="sub-1", etag='W/"1"')
    svc = sub("Support", "9.9999", billing_type=BillingType.SERVICE, id="sub-2")
    u = sub("Azure", "0", billing_type=BillingType.USAGE, id="sub-3")
    logs = [
        lcl(s, "2026-01-01", 10, id="lcl-1", etag='W/"10"'),
        lcl(s, "2026-02-15", 4, id="lcl-2", etag='W/"11"'),
        lcl(svc, "2026-01-01", 1, id="lcl-3"),
    ]
    c = contract(months=3, tax_percent=Decimal(10), discount_percent=Decimal("2.5"), etag='W/"100"')
    return data(
        c,
        [s, svc, u],
        logs,
        usages=[usage(u, "2026-01-20", "5.555", id="use-1")],
        nris=[nri("2026-01-02", 2, "7.5", id="nri-1", etag='W/"50"')],
    )


def test_preview_shape_and_money_strings():
    body = preview_json(build_invoice(example(), "2026-01-01", AS_OF))
    json.dumps(body)  # plain JSON data
    assert [l["category"] for l in body["lines"]] == [
        "Full Cycle",
        "Service",
        "Mid-Cycle Change",
        "Usage",
        "Non-Recurring",
    ]
    full, svc, mid, use, one = body["lines"]
    assert {
        k: full[k]
        for k in (
            "description",
            "period_start",
            "period_end",
            "quantity",
            "unit_price",
            "proration_factor",
            "amount",
            "discount",
            "tax",
            "total",
            "subscription_id",
        )
    } == {
        "description": "License",
        "period_start": "2026-01-01",
        "period_end": "2026-03-31",
        "quantity": "10",
        "unit_price": "36.00",
        "proration_factor": "1",
        "amount": "360.00",
        "discount": "9.00",
        "tax": "35.10",
        "total": "386.10",
        "subscription_id": "sub-1",
    }
    assert svc["unit_price"] == "30.00" and svc["amount"] == "30.00"  # 29.9997 shown at precision
    assert (mid["change_log_id"], mid["quantity"], mid["proration_factor"]) == (
        "lcl-2",
        "4",
        "0.5000000000",
    )
    assert (use["quantity"], use["unit_price"], use["amount"], use["usage_record_ids"]) == (
        "1",
        "5.56",
        "5.56",
        ["use-1"],
    )
    assert (one["non_recurring_item_id"], one["quantity"], one["unit_price"], one["amount"]) == (
        "nri-1",
        "2",
        "7.50",
        "15.00",
    )
    assert [c["category"] for c in body["categories"]] == [
        "Full Cycle",
        "Mid-Cycle Change",
        "Usage",
        "Non-Recurring",
        "Service",
    ]
    assert body["categories"][0] == {
        "category": "Full Cycle",
        "category_value": 1,
        "line_count": 1,
        "amount": "360.00",
        "discount": "9.00",
        "tax": "35.10",
        "total": "386.10",
    }
    assert body["totals"]["amount"] == "482.56"  # 360 + 72 + 5.56 + 15 + 30
    sums = {
        k: sum(Decimal(c[k]) for c in body["categories"])
        for k in ("amount", "discount", "tax", "total")
    }
    assert {k: str(v) for k, v in sums.items()} == body["totals"]
    assert body["consumed"] == {
        "change_log_ids": ["lcl-1", "lcl-2", "lcl-3"],
        "usage_record_ids": ["use-1"],
        "non_recurring_item_ids": ["nri-1"],
    }
    assert (body["cycle"], body["invoice_date"], body["due_date"], body["schedule_date"]) == (
        {"key": "2026-01-01", "start": "2026-01-01", "end": "2026-03-31", "status": "uninvoiced"},
        "2026-01-01",
        "2026-01-31",
        "2026-01-02",
    )
    assert (
        body["warnings"] == []
        and body["existing_invoices"] == []
        and body["nothing_to_invoice"] is False
    )
    assert len(body["preview_hash"]) == 64


def test_preview_of_nothing_and_precision_zero():
    body = preview_json(build_invoice(data(contract(precision=0)), "2026-01-01", AS_OF))
    assert body["lines"] == [] and body["nothing_to_invoice"] is True
    assert body["totals"] == {"amount": "0", "discount": "0", "tax": "0", "total": "0"}


def test_preview_of_a_re_invoice_lists_existing_invoices_and_warns():
    cd = replace(
        example(),
        schedules=(schedule("2026-01-01", invoice_id="inv-1"),),
        cycle_invoices={"2026-01-01": (InvoiceRef("inv-1", "INV-00012"),)},
    )
    body = preview_json(build_invoice(cd, "2026-01-01", AS_OF))
    assert body["existing_invoices"] == [{"id": "inv-1", "number": "INV-00012"}]
    assert body["warnings"] == [
        "Already invoiced (INV-00012): an additional invoice will be created"
    ]
    assert body["cycle"]["status"] == "invoiced"


def h(cd, key="2026-01-01", as_of=AS_OF):
    return preview_hash(build_invoice(cd, key, as_of))


def test_hash_is_deterministic_and_ignores_what_is_not_written():
    cd = example()
    assert (
        h(cd)
        == h(example())
        == preview_json(build_invoice(cd, "2026-01-01", AS_OF))["preview_hash"]
    )
    assert h(cd, as_of=d("2026-03-01")) == h(cd)  # as_of does not change a cycle invoice
    s = cd.subscriptions[0]
    later = replace(cd, change_logs=cd.change_logs + (lcl(s, "2026-05-01", 3),))
    assert h(later) == h(cd)  # an LCL after ce is not looked at


def test_hash_changes_with_everything_that_would_be_written():
    cd = example()
    base = h(cd)
    s0 = cd.subscriptions[0]
    variants = {
        "price": replace(
            cd, subscriptions=(replace(s0, price=Decimal("12.01")),) + cd.subscriptions[1:]
        ),
        "sub etag": replace(cd, subscriptions=(replace(s0, etag='W/"2"'),) + cd.subscriptions[1:]),
        "lcl etag": replace(
            cd, change_logs=(replace(cd.change_logs[0], etag='W/"99"'),) + cd.change_logs[1:]
        ),
        "archived lcl": replace(
            cd, change_logs=(replace(cd.change_logs[0], active=False),) + cd.change_logs[1:]
        ),
        "contract etag": replace(cd, contract=replace(cd.contract, etag='W/"101"')),
        "contract name": replace(cd, contract=replace(cd.contract, name="Renamed")),
        "tax": replace(cd, contract=replace(cd.contract, tax_percent=Decimal(11))),
        "terms": replace(cd, contract=replace(cd.contract, payment_terms_days=31)),
        "new usage": replace(
            cd, usage_records=cd.usage_records + (usage(cd.subscriptions[2], "2026-01-21", "0"),)
        ),
        "new nri": replace(cd, nris=cd.nris + (nri("2026-03-31", 1, "0"),)),
        "nri etag": replace(cd, nris=(replace(cd.nris[0], etag='W/"51"'),)),
        "existing invoice": replace(cd, schedules=(schedule("2026-01-01", invoice_id="inv-1"),)),
        "error schedule": replace(cd, schedules=(schedule("2026-01-01", status=2, etag='W/"7"'),)),
    }
    hashes = {name: h(v) for name, v in variants.items()}
    assert base not in hashes.values(), [n for n, x in hashes.items() if x == base]
    assert h(cd, key="2026-04-01") != base
