"""Rule 1 (full cycle / service lines), quantity over time (§4.2) and proration (§4.3)."""

from decimal import Decimal
from fractions import Fraction

import pytest

from plugin.engine import BillingType, LineCategory, ProrateUnit, build_invoice, cycle_at
from plugin.engine.quantity import qty_at
from plugin.engine.rules import proration_factor

from .builders import contract, d, data, lcl, sub

AS_OF = d("2026-01-01")


def lines(cd, key):
    return [
        (l.category, str(l.quantity), str(l.unit_price), str(l.amount))
        for l in build_invoice(cd, key, AS_OF).lines
    ]


def test_qty_at_sums_every_lcl_up_to_the_date_any_status():
    s = sub()
    logs = [
        lcl(s, "2025-12-01", 5),
        lcl(s, "2026-01-10", 3, active=False),
        lcl(s, "2026-02-01", -2),
    ]
    assert qty_at(logs, d("2025-11-30")) == 0
    assert qty_at(logs, d("2026-01-09")) == 5
    assert qty_at(logs, d("2026-01-10")) == 8
    assert qty_at(logs, d("2026-02-01")) == 6
    assert qty_at([], d("2026-02-01")) == 0


@pytest.mark.parametrize(
    "months, expected", [(1, "30.00"), (3, "90.00"), (12, "360.00"), (36, "1080.00")]
)
def test_each_frequency_bills_price_times_months(months, expected):
    s = sub(price="10.00")
    cd = data(contract("2026-01-01", months=months), [s], [lcl(s, "2026-01-01", 3)])
    assert lines(cd, "2026-01-01") == [
        (LineCategory.FULL_CYCLE, "3", f"{10 * months}.00", expected)
    ]


def test_service_subscriptions_bill_in_the_service_category():
    s = sub("Support", "50.00", billing_type=BillingType.SERVICE)
    cd = data(contract(), [s], [lcl(s, "2026-01-01", 1)])
    assert lines(cd, "2026-01-01") == [(LineCategory.SERVICE, "1", "50.00", "50.00")]


def test_no_lcls_non_billable_and_non_positive_quantity_bill_nothing():
    no_logs = sub("No logs")
    not_billable = sub("Not billable", billable=False)
    zeroed = sub("Zeroed")
    negative = sub("Negative")
    inactive = sub("Inactive but billable", statecode=1)
    logs = [
        lcl(not_billable, "2026-01-01", 4),
        lcl(zeroed, "2025-12-01", 5),
        lcl(zeroed, "2025-12-20", -5),
        lcl(negative, "2025-12-01", -1),
        lcl(inactive, "2025-12-01", 2),
    ]
    cd = data(contract(), [no_logs, not_billable, zeroed, negative, inactive], logs)
    assert lines(cd, "2026-01-01") == [(LineCategory.FULL_CYCLE, "2", "10.00", "20.00")]


def test_quantity_is_taken_at_the_cycle_start():
    s = sub()
    cd = data(
        contract(),
        [s],
        [lcl(s, "2026-01-01", 2, active=False), lcl(s, "2026-01-02", 5, active=False)],
    )
    assert lines(cd, "2026-01-01") == [(LineCategory.FULL_CYCLE, "2", "10.00", "20.00")]
    assert lines(cd, "2026-02-01") == [(LineCategory.FULL_CYCLE, "7", "10.00", "70.00")]


def test_fractional_quantities_and_prices_round_once():
    s = sub(price="3.3333")
    cd = data(contract(months=3), [s], [lcl(s, "2026-01-01", "1.5", active=False)])
    # 1.5 × 9.9999 = 14.99985 → 15.00 (one rounding of the exact product)
    assert lines(cd, "2026-01-01") == [(LineCategory.FULL_CYCLE, "1.5", "9.9999", "15.00")]


@pytest.mark.parametrize(
    "start, end, months, days_f, months_f",
    [
        ("2026-01-01", "2026-01-15", 1, Fraction(15, 31), Fraction(15, 31)),
        ("2026-01-31", "2026-03-15", 3, Fraction(44, 89), (1 + Fraction(16, 31)) / 3),
        ("2026-01-01", "2026-01-31", 3, Fraction(31, 90), Fraction(1, 3)),  # leftover L empty
        ("2026-01-31", "2026-02-27", 3, Fraction(28, 89), Fraction(1, 3)),  # b_1 clamped to Feb 28
        ("2025-07-01", "2026-03-15", 12, Fraction(258, 365), (8 + Fraction(15, 31)) / 12),
        ("2028-01-01", "2028-02-29", 12, Fraction(60, 366), Fraction(2, 12)),  # leap day
        (
            "2026-01-01",
            "2026-01-01",
            36,
            Fraction(1, 1096),
            Fraction(1, 31 * 36),
        ),  # one day of a triennial
        ("2026-01-01", "2026-01-31", 1, 1, 1),  # end = full end: not prorated
    ],
)
def test_proration_factor_days_and_months(start, end, months, days_f, months_f):
    for unit, expected in ((ProrateUnit.DAYS, days_f), (ProrateUnit.MONTHS, months_f)):
        c = contract(start, end=end, months=months, unit=unit)
        assert proration_factor(c, cycle_at(c, 0)) == expected


def test_months_proration_of_a_later_cycle_uses_its_own_month_boundaries():
    # Quarterly from 2026-01-31; cycle 1 = [2026-04-30, 2026-07-30]; E = 2026-06-10
    c = contract("2026-01-31", end="2026-06-10", months=3, unit=ProrateUnit.MONTHS)
    cycle = cycle_at(c, 1)
    assert (str(cycle.start), str(cycle.end)) == ("2026-04-30", "2026-06-10")
    # b = 04-30, 05-31, 06-30, 07-31; ce+1 = 06-11 → k = 1
    # L = [05-31, 06-10] = 11 days of [05-31, 06-29] = 30
    assert proration_factor(c, cycle) == (1 + Fraction(11, 30)) / 3


def test_prorated_amount_is_rounded_once():
    s = sub(price="10.00")
    for precision, expected in ((0, "3"), (2, "3.23"), (3, "3.226")):
        cd = data(
            contract("2026-01-01", end="2026-01-10", precision=precision),
            [s],
            [lcl(s, "2026-01-01", 1)],
        )
        (line,) = build_invoice(cd, "2026-01-01", AS_OF).lines
        assert str(line.amount) == expected  # 100/31 = 3.2258…
        assert line.proration_factor == Fraction(10, 31)


def test_whole_cycles_are_not_prorated():
    s = sub()
    cd = data(contract("2026-01-31", end="2026-12-31"), [s], [lcl(s, "2026-01-31", 1)])
    draft = build_invoice(cd, "2026-02-28", AS_OF)
    assert draft.lines[0].proration_factor is None and str(draft.lines[0].amount) == "10.00"


def test_price_is_the_subscriptions_not_the_lcls():
    s = sub(price="10.00")
    cd = data(contract(), [s], [lcl(s, "2026-01-01", 2, price="99.00")])
    assert lines(cd, "2026-01-01") == [(LineCategory.FULL_CYCLE, "2", "10.00", "20.00")]


def test_zero_price_still_makes_a_zero_line():
    s = sub(price="0")
    cd = data(contract(), [s], [lcl(s, "2026-01-01", 2)])
    draft = build_invoice(cd, "2026-01-01", AS_OF)
    assert [str(l.amount) for l in draft.lines] == ["0.00"] and not draft.nothing_to_invoice


def test_tiny_amount_rounding_to_zero_keeps_its_line():
    s = sub(price="0.0001")
    cd = data(contract("2026-01-01", end="2026-01-01"), [s], [lcl(s, "2026-01-01", 1)])
    assert [str(l.amount) for l in build_invoice(cd, "2026-01-01", AS_OF).lines] == ["0.00"]


def test_quantity_uses_decimal_not_float():
    s = sub(price="0.10")
    cd = data(contract(), [s], [lcl(s, "2026-01-01", "0.1"), lcl(s, "2025-12-01", "0.2")])
    (line,) = build_invoice(cd, "2026-01-01", AS_OF).lines
    assert line.quantity == Decimal("0.3") and str(line.amount) == "0.03"
