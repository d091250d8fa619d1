"""Rule 2: mid-cycle changes (cycle-start rule, refunds, consumption, LCLs before S)."""

from decimal import Decimal
from fractions import Fraction

from plugin.engine import BillingType, LineCategory, ProrateUnit, build_invoice

from .builders import contract, d, data, lcl, sub

AS_OF = d("2026-01-01")


def mids(draft):
    return [
        (str(l.quantity), str(l.unit_price), str(l.amount), str(l.period_start), str(l.period_end))
        for l in draft.lines
        if l.category == LineCategory.MID_CYCLE_CHANGE
    ]


def test_lcl_on_a_cycle_start_makes_no_line_but_is_consumed():
    s = sub(price="10.00")
    create, update = lcl(s, "2026-01-01", 5), lcl(s, "2026-02-01", 2)
    cd = data(contract(), [s], [create, update])
    first = build_invoice(cd, "2026-01-01", AS_OF)
    assert mids(first) == [] and first.consumption.change_log_ids == (
        create.id,
    )  # 02-01 > ce: not looked at
    second = build_invoice(cd, "2026-02-01", AS_OF)
    assert mids(second) == []
    assert [str(l.amount) for l in second.lines] == ["70.00"]
    assert set(second.consumption.change_log_ids) == {create.id, update.id}


def test_lcls_before_the_contract_start_count_toward_quantity_only():
    s = sub(price="10.00")
    early = lcl(s, "2025-12-15", 5)
    cd = data(contract("2026-01-01"), [s], [early])
    draft = build_invoice(cd, "2026-01-01", AS_OF)
    assert [str(l.amount) for l in draft.lines] == ["50.00"]
    assert draft.consumption.change_log_ids == ()  # never consumed
    assert build_invoice(cd, "2026-03-01", AS_OF).consumption.change_log_ids == ()


def test_positive_change_is_prorated_by_days_within_its_own_cycle():
    s = sub(price="10.00")
    cd = data(contract(), [s], [lcl(s, "2026-01-01", 1), lcl(s, "2026-01-11", 3)])
    draft = build_invoice(cd, "2026-01-01", AS_OF)
    # 3 × 10 × 21/31 = 20.3225… → 20.32
    assert mids(draft) == [("3", "10.00", "20.32", "2026-01-11", "2026-01-31")]
    assert draft.lines[1].proration_factor == Fraction(21, 31)


def test_mid_cycle_uses_days_even_with_months_proration():
    s = sub(price="10.00")
    cd = data(
        contract(unit=ProrateUnit.MONTHS), [s], [lcl(s, "2026-01-01", 1), lcl(s, "2026-01-11", 3)]
    )
    assert mids(build_invoice(cd, "2026-01-01", AS_OF))[0][2] == "20.32"


def test_negative_change_with_refunds_is_a_credit_line():
    s = sub(price="10.00")
    cut = lcl(s, "2026-01-16", -2)
    cd = data(contract(apply_refunds=True), [s], [lcl(s, "2026-01-01", 5), cut])
    draft = build_invoice(cd, "2026-01-01", AS_OF)
    # −2 × 10 × 16/31 = −10.3225… → −10.32
    assert mids(draft) == [("-2", "10.00", "-10.32", "2026-01-16", "2026-01-31")]
    assert str(draft.totals.amount) == "39.68"
    assert cut.id in draft.consumption.change_log_ids


def test_negative_change_without_refunds_makes_no_line_but_is_consumed():
    s = sub(price="10.00")
    cut = lcl(s, "2026-01-16", -2)
    cd = data(contract(apply_refunds=False), [s], [lcl(s, "2026-01-01", 5), cut])
    draft = build_invoice(cd, "2026-01-01", AS_OF)
    assert mids(draft) == [] and [str(l.amount) for l in draft.lines] == ["50.00"]
    assert cut.id in draft.consumption.change_log_ids
    # the next cycle sees the lower quantity
    assert [
        str(l.amount) for l in build_invoice(cd, "2026-02-01", AS_OF).lines if l.category == 1
    ] == ["30.00"]


def test_credit_is_the_exact_negative_of_the_debit_on_a_tie():
    s = sub(price="0.155")
    for delta, expected in ((1, "0.01"), (-1, "-0.01")):
        cd = data(contract(apply_refunds=True), [s], [lcl(s, "2026-01-31", delta)])
        assert mids(build_invoice(cd, "2026-01-01", AS_OF))[0][2] == expected  # ±0.155/31 = ±0.005


def test_lcl_price_overrides_and_zero_is_a_price():
    s = sub(price="10.00")
    cd = data(
        contract(months=3),
        [s],
        [
            lcl(s, "2026-01-01", 1),
            lcl(s, "2026-02-15", 4, price="15.00"),
            lcl(s, "2026-03-01", 2, price="0"),
        ],
    )
    draft = build_invoice(cd, "2026-01-01", AS_OF)
    # 4 × 45 × 45/90 = 90.00; 2 × 0 × … = 0.00 (line kept)
    assert mids(draft) == [
        ("4", "45.00", "90.00", "2026-02-15", "2026-03-31"),
        ("2", "0", "0.00", "2026-03-01", "2026-03-31"),
    ]


def test_zero_delta_change_bills_nothing_but_keeps_a_zero_line():
    s = sub(price="10.00")
    zero = lcl(s, "2026-01-20", 0, price="12.00")
    draft = build_invoice(
        data(contract(), [s], [lcl(s, "2026-01-01", 1), zero]), "2026-01-01", AS_OF
    )
    assert mids(draft) == [("0", "12.00", "0.00", "2026-01-20", "2026-01-31")]
    assert zero.id in draft.consumption.change_log_ids


def test_active_lcls_of_earlier_cycles_are_billed_in_their_own_cycle():
    s = sub(price="10.00")
    late = lcl(s, "2026-01-21", 1)  # in cycle 2026-01-01, still Active
    cd = data(contract(), [s], [lcl(s, "2026-01-01", 1, active=False), late])
    draft = build_invoice(cd, "2026-03-01", AS_OF)
    assert mids(draft) == [("1", "10.00", "3.55", "2026-01-21", "2026-01-31")]  # 110/31
    assert [str(l.amount) for l in draft.lines if l.category == LineCategory.FULL_CYCLE] == [
        "20.00"
    ]


def test_clipped_cycle_uses_its_effective_end_and_full_length():
    s = sub(price="10.00")
    cd = data(
        contract("2026-01-01", end="2026-01-20"),
        [s],
        [lcl(s, "2026-01-01", 1), lcl(s, "2026-01-11", 3)],
    )
    # 3 × 10 × days([01-11, 01-20]) / days([01-01, 01-31]) = 300/31 = 9.677… → 9.68
    assert mids(build_invoice(cd, "2026-01-01", AS_OF)) == [
        ("3", "10.00", "9.68", "2026-01-11", "2026-01-20")
    ]


def test_lcls_after_the_cycle_end_are_not_consumed():
    s = sub()
    later = lcl(s, "2026-02-10", 1)
    draft = build_invoice(
        data(contract(), [s], [lcl(s, "2026-01-01", 1), later]), "2026-01-01", AS_OF
    )
    assert later.id not in draft.consumption.change_log_ids


def test_archived_lcls_make_no_lines():
    s = sub()
    draft = build_invoice(
        data(contract(), [s], [lcl(s, "2026-01-01", 1), lcl(s, "2026-01-10", 2, active=False)]),
        "2026-01-01",
        AS_OF,
    )
    assert mids(draft) == []


def test_non_billable_and_usage_subscription_lcls_are_ignored():
    off = sub("Off", billable=False)
    use = sub("Usage", billing_type=BillingType.USAGE)
    logs = [lcl(off, "2026-01-10", 2), lcl(use, "2026-01-10", 2), lcl(use, "2026-01-01", 2)]
    draft = build_invoice(data(contract(), [off, use], logs), "2026-01-01", AS_OF)
    assert draft.lines == () and draft.consumption.change_log_ids == ()


def test_quarterly_mid_cycle_multiplies_by_months_exactly():
    s = sub(price="12.00")
    cd = data(
        contract(months=3), [s], [lcl(s, "2026-01-01", 10), lcl(s, "2026-02-15", Decimal("4"))]
    )
    assert mids(build_invoice(cd, "2026-01-01", AS_OF)) == [
        ("4", "36.00", "72.00", "2026-02-15", "2026-03-31")
    ]


def test_sign_test_uses_the_rounded_amount():
    # −1 × 0.0001 × 1/31 rounds to 0.00: not negative, so a 0.00 line even without refunds
    s = sub(price="0.0001")
    cd = data(contract(apply_refunds=False), [s], [lcl(s, "2026-01-01", 5), lcl(s, "2026-01-31", -1)])
    assert mids(build_invoice(cd, "2026-01-01", AS_OF)) == [
        ("-1", "0.0001", "0.00", "2026-01-31", "2026-01-31")
    ]


def test_mid_cycle_descriptions_carry_no_iso_date_the_period_has_it():
    s = sub(price="10.00", name="Microsoft 365 E3")
    cd = data(contract(), [s], [lcl(s, "2026-01-01", 5), lcl(s, "2026-01-16", 2), lcl(s, "2026-01-20", -1)])
    draft = build_invoice(cd, "2026-01-01", AS_OF)
    descriptions = [l.description for l in draft.lines if l.category == LineCategory.MID_CYCLE_CHANGE]
    assert descriptions == ["Microsoft 365 E3: +2 mid-cycle change"]  # no refunds: the credit makes no line
    assert all("2026" not in text for text in descriptions)
