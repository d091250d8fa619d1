"""DESIGN §4.8 worked examples, exact figures."""

from decimal import Decimal
from fractions import Fraction

from plugin.engine import (
    BillingPolicy,
    LineCategory,
    ProrateUnit,
    build_invoice,
    cycle_at,
    preview_json,
)

from .builders import archive, contract, d, data, lcl, sub


def quarterly_example():
    c = contract("2026-01-01", months=3, policy=BillingPolicy.ADVANCE, tax_percent=Decimal(10))
    s = sub("License", "12.00", taxable=True)
    create, update = lcl(s, "2026-01-01", 10, change_type=1), lcl(s, "2026-02-15", 4)
    return data(c, [s], [create, update]), create, update


def test_anchoring_example():
    c = contract("2026-01-31")
    assert [(str(cycle_at(c, i).start), str(cycle_at(c, i).end)) for i in range(3)] == [
        ("2026-01-31", "2026-02-27"),
        ("2026-02-28", "2026-03-30"),
        ("2026-03-31", "2026-04-29"),
    ]


def test_mid_cycle_change_days_example():
    cd, create, update = quarterly_example()
    draft = build_invoice(cd, "2026-01-01", d("2026-01-01"))
    full, mid = draft.lines
    assert (full.category, str(full.quantity), str(full.unit_price), str(full.amount)) == (
        LineCategory.FULL_CYCLE,
        "10",
        "36.00",
        "360.00",
    )
    assert (mid.category, str(mid.quantity), str(mid.unit_price), str(mid.amount)) == (
        LineCategory.MID_CYCLE_CHANGE,
        "4",
        "36.00",
        "72.00",
    )
    assert (str(mid.period_start), str(mid.period_end)) == ("2026-02-15", "2026-03-31")
    assert str(draft.totals.amount) == "432.00"
    assert str(draft.totals.tax) == "43.20"
    assert str(draft.totals.total) == "475.20"
    assert (str(draft.invoice_date), str(draft.due_date)) == ("2026-01-01", "2026-01-31")
    assert set(draft.consumption.change_log_ids) == {create.id, update.id}
    body = preview_json(draft)
    assert body["totals"] == {
        "amount": "432.00",
        "discount": "0.00",
        "tax": "43.20",
        "total": "475.20",
    }
    assert [l["proration_factor"] for l in body["lines"]] == ["1", "0.5000000000"]

    # once that invoice exists, the next cycle bills 14 × 36.00 and no mid-cycle line
    after = build_invoice(archive(cd, draft), "2026-04-01", d("2026-04-01"))
    assert [(l.category, str(l.amount)) for l in after.lines] == [
        (LineCategory.FULL_CYCLE, "504.00")
    ]
    assert after.consumption.change_log_ids == ()
    # previewed before it, the still-Active +4 adds its 72.00 line
    # (the cycle-start Create is consumed without a line)
    before = build_invoice(cd, "2026-04-01", d("2026-04-01"))
    assert [(l.category, str(l.amount)) for l in before.lines] == [
        (LineCategory.FULL_CYCLE, "504.00"),
        (LineCategory.MID_CYCLE_CHANGE, "72.00"),
    ]
    assert set(before.consumption.change_log_ids) == {create.id, update.id}


def prorated_example(unit):
    c = contract("2025-07-01", end="2026-03-15", months=12, policy=BillingPolicy.ARREARS, unit=unit)
    s = sub("License", "20.00")
    return data(c, [s], [lcl(s, "2025-07-01", 2, change_type=1)])


def test_prorated_last_cycle_months():
    draft = build_invoice(prorated_example(ProrateUnit.MONTHS), "2025-07-01", d("2026-04-01"))
    (line,) = draft.lines
    assert str(line.amount) == "339.35"
    assert line.proration_factor == Fraction(8 * 31 + 15, 31 * 12)
    assert preview_json(draft)["lines"][0]["proration_factor"] == "0.7069892473"
    assert str(draft.invoice_date) == "2026-03-15"
    assert (str(line.period_start), str(line.period_end)) == ("2025-07-01", "2026-03-15")


def test_prorated_last_cycle_days():
    draft = build_invoice(prorated_example(ProrateUnit.DAYS), "2025-07-01", d("2026-04-01"))
    (line,) = draft.lines
    assert str(line.amount) == "339.29"
    assert preview_json(draft)["lines"][0]["proration_factor"] == "0.7068493151"  # 258/365
    assert str(draft.invoice_date) == "2026-03-15"
