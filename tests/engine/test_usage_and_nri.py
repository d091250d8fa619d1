"""Rules 3 and 4: usage with minimum commitment, NRIs, OTP Immediately, one-time and Item Based."""

from decimal import Decimal

from plugin.engine import (
    ONE_TIME,
    BillingType,
    ContractType,
    InvoiceCategory,
    LineCategory,
    build_invoice,
)

from .builders import contract, d, data, lcl, nri, sub, usage

AS_OF = d("2026-01-15")


def usage_sub(name="Azure", minimum="0", **kw):
    return sub(name, "0", billing_type=BillingType.USAGE, minimum_commitment=Decimal(minimum), **kw)


def rows(draft, category):
    return [
        (str(l.quantity), str(l.unit_price), str(l.amount), str(l.period_start), str(l.period_end))
        for l in draft.lines
        if l.category == category
    ]


def test_usage_sums_unbilled_records_up_to_the_cycle_end():
    u = usage_sub()
    recs = [
        usage(u, "2025-12-20", "100.10"),
        usage(u, "2026-01-31", "23.35"),
        usage(u, "2026-02-01", "999"),
        usage(u, "2026-01-05", "50", unbilled=False),
    ]
    draft = build_invoice(data(contract(), [u], usages=recs), "2026-01-01", AS_OF)
    assert rows(draft, LineCategory.USAGE) == [
        ("1", "123.45", "123.45", "2026-01-01", "2026-01-31")
    ]
    assert set(draft.consumption.usage_record_ids) == {recs[0].id, recs[1].id}
    assert set(draft.lines[0].usage_record_ids) == {recs[0].id, recs[1].id}


def test_usage_sum_is_rounded_once():
    u = usage_sub()
    recs = [usage(u, "2026-01-02", "0.004"), usage(u, "2026-01-03", "0.004")]
    draft = build_invoice(data(contract(), [u], usages=recs), "2026-01-01", AS_OF)
    assert rows(draft, LineCategory.USAGE)[0][2] == "0.01"


def test_minimum_commitment_applies_when_higher():
    low, high = usage_sub("Low", minimum="200"), usage_sub("High", minimum="50")
    recs = [usage(low, "2026-01-02", "123.45"), usage(high, "2026-01-02", "123.45")]
    draft = build_invoice(data(contract(), [low, high], usages=recs), "2026-01-01", AS_OF)
    assert [(l.name, str(l.amount)) for l in draft.lines] == [("High", "123.45"), ("Low", "200.00")]


def test_minimum_without_records_and_never_prorated():
    u = usage_sub(minimum="100")
    draft = build_invoice(data(contract("2026-01-01", end="2026-01-05"), [u]), "2026-01-01", AS_OF)
    assert rows(draft, LineCategory.USAGE) == [
        ("1", "100.00", "100.00", "2026-01-01", "2026-01-05")
    ]
    assert draft.consumption.usage_record_ids == ()


def test_no_records_and_no_minimum_make_no_line():
    draft = build_invoice(data(contract(), [usage_sub()]), "2026-01-01", AS_OF)
    assert draft.nothing_to_invoice


def test_records_summing_to_zero_make_no_line_but_are_qualifying():
    u = usage_sub()
    recs = [usage(u, "2026-01-02", "5"), usage(u, "2026-01-03", "-5")]
    draft = build_invoice(data(contract(), [u], usages=recs), "2026-01-01", AS_OF)
    assert rows(draft, LineCategory.USAGE) == []
    assert set(draft.consumption.usage_record_ids) == {r.id for r in recs}


def test_negative_usage_with_zero_minimum_is_a_zero_line():
    u = usage_sub()
    draft = build_invoice(
        data(contract(), [u], usages=[usage(u, "2026-01-02", "-5")]), "2026-01-01", AS_OF
    )
    assert rows(draft, LineCategory.USAGE) == [("1", "0.00", "0.00", "2026-01-01", "2026-01-31")]


def test_usage_of_non_billable_and_of_license_subscriptions_is_ignored():
    off = usage_sub(billable=False)
    lic = sub("License")
    recs = [usage(off, "2026-01-02", "10"), usage(lic, "2026-01-02", "10")]
    draft = build_invoice(data(contract(), [off, lic], usages=recs), "2026-01-01", AS_OF)
    assert draft.nothing_to_invoice and draft.consumption.usage_record_ids == ()


def test_usage_in_precision_zero_and_three():
    u = usage_sub()
    for precision, expected in ((0, "12"), (2, "12.35"), (3, "12.346")):
        draft = build_invoice(
            data(contract(precision=precision), [u], usages=[usage(u, "2026-01-02", "12.3456")]),
            "2026-01-01",
            AS_OF,
        )
        assert rows(draft, LineCategory.USAGE)[0][2] == expected


def test_nris_on_a_cycle_invoice_without_otp_immediately():
    items = [
        nri("2026-01-10", 3, "33.335", name="Setup"),
        nri("2025-11-01", 1, "5.00", name="Old"),
        nri("2026-02-01", 1, "7.00"),
        nri("2026-01-05", 1, "9.00", unbilled=False),
    ]
    draft = build_invoice(data(contract(), nris=items), "2026-01-01", AS_OF)
    # 3 × 33.335 = 100.005 → 100.01; ordered by effective date; the invoice's period
    assert rows(draft, LineCategory.NON_RECURRING) == [
        ("1", "5.00", "5.00", "2026-01-01", "2026-01-31"),
        ("3", "33.335", "100.01", "2026-01-01", "2026-01-31"),
    ]
    assert set(draft.consumption.nri_ids) == {items[0].id, items[1].id}


def test_otp_immediately_keeps_nris_off_cycle_invoices():
    s = sub()
    cd = data(
        contract(otp_immediately=True), [s], [lcl(s, "2026-01-01", 1)], nris=[nri("2026-01-10")]
    )
    draft = build_invoice(cd, "2026-01-01", AS_OF)
    assert rows(draft, LineCategory.NON_RECURRING) == [] and draft.consumption.nri_ids == ()


def test_one_time_invoice_takes_every_unbilled_nri_whatever_its_date():
    s = sub()
    items = [
        nri("2027-06-01", 2, "10.00", taxable=True),
        nri("2025-01-01", 1, "1.00"),
        nri("2026-01-01", 1, "50", unbilled=False),
    ]
    c = contract(otp_immediately=True, tax_percent=Decimal("20"), payment_terms_days=14)
    draft = build_invoice(data(c, [s], [lcl(s, "2026-01-01", 1)], nris=items), ONE_TIME, AS_OF)
    assert draft.is_one_time and draft.invoice_category == InvoiceCategory.ONE_TIME
    assert [l.category for l in draft.lines] == [LineCategory.NON_RECURRING] * 2
    assert rows(draft, LineCategory.NON_RECURRING) == [
        ("1", "1.00", "1.00", "2026-01-15", "2026-01-15"),
        ("2", "10.00", "20.00", "2026-01-15", "2026-01-15"),
    ]
    assert [str(l.tax) for l in draft.lines] == ["0.00", "4.00"]
    assert (str(draft.invoice_date), str(draft.due_date), draft.schedule_date) == (
        "2026-01-15",
        "2026-01-29",
        None,
    )
    assert (draft.period_start, draft.period_end) == (AS_OF, AS_OF)
    assert set(draft.consumption.nri_ids) == {items[0].id, items[1].id}
    assert draft.consumption.change_log_ids == () and draft.warnings == ()


def test_item_based_contract_invoices_only_nris():
    s = sub()
    cd = data(
        contract(type=ContractType.ITEM_BASED),
        [s],
        [lcl(s, "2026-01-01", 3)],
        nris=[nri("2026-01-02")],
    )
    draft = build_invoice(cd, None, AS_OF)
    assert draft.cycle_key == ONE_TIME and [str(l.amount) for l in draft.lines] == ["100.00"]
    empty = build_invoice(data(contract(type=ContractType.ITEM_BASED)), ONE_TIME, AS_OF)
    assert empty.nothing_to_invoice


def test_zero_priced_nri_still_makes_an_invoice():
    draft = build_invoice(data(contract(), nris=[nri("2026-01-02", 1, "0")]), "2026-01-01", AS_OF)
    assert [str(l.amount) for l in draft.lines] == ["0.00"] and not draft.nothing_to_invoice
