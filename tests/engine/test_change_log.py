"""Change-log invoices: hand-computed examples of every rule (docs/billing-rules.md)."""

from dataclasses import replace
from decimal import Decimal
from fractions import Fraction

import pytest

from plugin.engine import (
    BillingPolicy,
    BillingType,
    ChangeLogNotAllowed,
    ContractType,
    EarlierCyclesNotInvoiced,
    InvoiceCategory,
    LineCategory,
    ProrateUnit,
    ScheduleStatus,
    build_change_log,
    build_invoice,
    change_log_key,
    parse_change_log_key,
    preview_json,
)

from .builders import archive, contract, d, data, lcl, nri, schedule, sub, usage

TODAY = d("2026-12-31")


def lines_of(draft, category=None):
    return [
        (str(l.quantity), str(l.amount), str(l.period_start), str(l.period_end))
        for l in draft.lines
        if category is None or l.category == category
    ]


def quarterly(**kw):
    return contract("2026-01-01", months=3, **kw)


# ---- the worked example: quarterly, Days, Advance ---------------------------------------------


def worked_example():
    s = sub("Seats", price="12.00", taxable=True)
    create = lcl(s, "2026-01-01", 10, active=False)  # consumed by the cycle invoice
    plus4, plus2 = lcl(s, "2026-02-15", 4), lcl(s, "2026-03-20", 2)
    c = quarterly(tax_percent=Decimal(10))
    cd = data(c, [s], [create, plus4, plus2], schedules=[schedule("2026-01-01")])
    return cd, plus4, plus2


def test_quarterly_days_worked_example():
    cd, plus4, plus2 = worked_example()
    draft = build_change_log(cd, d("2026-03-01"), TODAY)
    # 4 × 12 × 3 × 45/90 = 72.00, tax 7.20; the +2 of 03-20 is after the as-of date
    assert lines_of(draft) == [("4", "72.00", "2026-02-15", "2026-03-31")]
    assert draft.lines[0].category == LineCategory.MID_CYCLE_CHANGE
    assert draft.lines[0].proration_factor == Fraction(45, 90)
    assert (str(draft.totals.amount), str(draft.totals.tax), str(draft.totals.total)) == (
        "72.00", "7.20", "79.20")
    assert draft.consumption.change_log_ids == (plus4.id,)
    assert draft.invoice_category == InvoiceCategory.CHANGE_LOG and draft.is_change_log
    assert (draft.period_start, draft.period_end) == (d("2026-01-01"), d("2026-03-01"))
    assert (draft.invoice_date, draft.due_date) == (d("2026-03-01"), d("2026-03-31"))
    assert draft.schedule_date is None and not draft.writes_schedule
    assert not draft.already_invoiced and draft.warnings == () and draft.existing_invoices == ()
    assert draft.cycle_key == "change-log:2026-03-01"


def test_as_of_on_the_change_day_includes_it_and_the_day_before_does_not():
    cd, plus4, _ = worked_example()
    assert build_change_log(cd, d("2026-02-15"), TODAY).consumption.change_log_ids == (plus4.id,)
    assert build_change_log(cd, d("2026-02-14"), TODAY).nothing_to_invoice


def test_then_the_cycle_invoice_no_longer_bills_what_the_change_log_consumed():
    cd, plus4, plus2 = worked_example()
    after = archive(cd, build_change_log(cd, d("2026-03-01"), TODAY))
    nxt = build_invoice(after, "2026-04-01", d("2026-04-01"))
    # 14 × 36 (the +2 is in the quantity from 04-01 on as well): 16 × 36 = 576.00; the +2 of 03-20
    # is still Active: 2 × 36 × 12/90 = 9.60
    assert lines_of(nxt) == [("16", "576.00", "2026-04-01", "2026-06-30"),
                             ("2", "9.60", "2026-03-20", "2026-03-31")]
    assert nxt.consumption.change_log_ids == (plus2.id,)


# ---- annual, Months, Arrears: LCL price, cycle-start LCL, usage without minimum, NRIs ---------


def annual_example():
    lic = sub("Seats", price="20.00")
    use = sub("Calls", price="0", billing_type=BillingType.USAGE, minimum_commitment=Decimal(500))
    create = lcl(lic, "2025-07-01", 2)
    plus3 = lcl(lic, "2025-10-01", 3, price="25.00")
    u1, u2, u3 = usage(use, "2025-12-01", "120.50"), usage(use, "2026-01-15", "30.25"), usage(
        use, "2026-01-16", "99")
    n1, n2 = nri("2025-11-01", 2, "49.99"), nri("2026-02-01", 1, "10.00")
    c = contract("2025-07-01", months=12, policy=BillingPolicy.ARREARS, unit=ProrateUnit.MONTHS)
    return data(c, [lic, use], [create, plus3], [u1, u2, u3], [n1, n2]), create, plus3, (u1, u2, u3), (n1, n2)


def test_annual_months_contract_with_usage_and_nris():
    cd, create, plus3, (u1, u2, u3), (n1, n2) = annual_example()
    draft = build_change_log(cd, d("2026-01-15"), d("2026-01-20"))
    # Mid-Cycle by days whatever the proration unit: 3 × 25 × 12 × 273/365 = 673.1506… → 673.15;
    # the Create on the cycle's first day is consumed without a line. Usage 120.50 + 30.25 with no
    # minimum commitment; NRI 2 × 49.99. Usage and NRI periods run from the cycle start to A.
    assert lines_of(draft) == [
        ("3", "673.15", "2025-10-01", "2026-06-30"),
        ("1", "150.75", "2025-07-01", "2026-01-15"),
        ("2", "99.98", "2025-07-01", "2026-01-15"),
    ]
    assert [l.category for l in draft.lines] == [
        LineCategory.MID_CYCLE_CHANGE, LineCategory.USAGE, LineCategory.NON_RECURRING]
    assert "minimum" not in draft.lines[1].description
    assert str(draft.totals.total) == "923.88"
    assert set(draft.consumption.change_log_ids) == {create.id, plus3.id}
    assert set(draft.consumption.usage_record_ids) == {u1.id, u2.id}
    assert draft.consumption.nri_ids == (n1.id,)
    assert draft.invoice_date == d("2026-01-15")  # Arrears does not matter: invoice date = A


def test_annual_minimum_commitment_then_applies_again_on_the_cycle_invoice():
    cd, *_ = annual_example()
    alone = build_invoice(cd, "2025-07-01", d("2026-07-01"))
    # 480.00 + 673.15 + max(249.75, 500) + 99.98 + 10.00
    assert str(alone.totals.amount) == "1763.13"
    log = build_change_log(cd, d("2026-01-15"), d("2026-01-20"))
    after = build_invoice(archive(cd, log), "2025-07-01", d("2026-07-01"))
    # 480.00 + max(99, 500) + 10.00: the minimum covers what was left after the change log
    assert str(after.totals.amount) == "990.00"
    assert log.totals.amount + after.totals.amount - alone.totals.amount == Decimal("150.75")


# ---- credits -----------------------------------------------------------------------------------


def credit_data(refunds: bool, extra=(), s=None):
    s = s or sub("Seats", price="12.00")
    minus3 = lcl(s, "2026-02-15", -3)
    cd = data(quarterly(apply_refunds=refunds), [s], [lcl(s, "2026-01-01", 10, active=False),
                                                      minus3, *extra],
              schedules=[schedule("2026-01-01")])
    return cd, s, minus3


def test_credit_with_refunds_is_a_credit_line():
    cd, _, minus3 = credit_data(True)
    draft = build_change_log(cd, d("2026-03-31"), TODAY)
    assert lines_of(draft) == [("-3", "-54.00", "2026-02-15", "2026-03-31")]  # −3 × 36 × 45/90
    assert str(draft.totals.total) == "-54.00"
    assert draft.consumption.change_log_ids == (minus3.id,)


def test_credit_without_refunds_makes_no_line_but_is_consumed_with_other_lines():
    cd, s, minus3 = credit_data(False)
    assert build_change_log(cd, d("2026-03-31"), TODAY).nothing_to_invoice
    plus1 = lcl(s, "2026-03-01", 1)
    cd, _, minus3 = credit_data(False, [plus1], s)
    draft = build_change_log(cd, d("2026-03-31"), TODAY)
    assert lines_of(draft) == [("1", "12.40", "2026-03-01", "2026-03-31")]  # 36 × 31/90
    assert set(draft.consumption.change_log_ids) == {minus3.id, plus1.id}


# ---- the cycle's first day, clipping, prices ---------------------------------------------------


def test_lcl_on_the_cycles_first_day_is_consumed_without_a_line():
    s = sub(price="12.00")
    first = lcl(s, "2026-04-01", 5)
    other = lcl(s, "2026-04-10", 1)
    cd = data(quarterly(), [s], [first, other], schedules=[schedule("2026-01-01")])
    draft = build_change_log(cd, d("2026-04-30"), TODAY)
    assert lines_of(draft) == [("1", "32.44", "2026-04-10", "2026-06-30")]  # 36 × 82/91
    assert set(draft.consumption.change_log_ids) == {first.id, other.id}
    # alone, a first-day change is "nothing to invoice": nothing consumed
    only_first = data(quarterly(), [s], [first], schedules=[schedule("2026-01-01")])
    assert build_change_log(only_first, d("2026-04-30"), TODAY).nothing_to_invoice


def test_current_cycle_clipped_by_the_end_date():
    s = sub(price="12.00")
    cd = data(quarterly(end="2026-03-15"), [s], [lcl(s, "2026-01-01", 1), lcl(s, "2026-02-15", 2)])
    draft = build_change_log(cd, d("2026-03-01"), TODAY)
    assert lines_of(draft) == [("2", "23.20", "2026-02-15", "2026-03-15")]  # 72 × 29/90


def test_lcl_price_zero_is_a_price():
    s = sub(price="12.00")
    cd = data(quarterly(), [s], [lcl(s, "2026-02-15", 4, price="0")])
    assert lines_of(build_change_log(cd, d("2026-03-01"), TODAY)) == [
        ("4", "0.00", "2026-02-15", "2026-03-31")]


def test_only_billable_license_and_service_subscriptions_and_no_full_cycle_lines():
    lic, svc = sub("A", price="12.00"), sub("B", price="3.00", billing_type=BillingType.SERVICE)
    off = sub("C", price="5.00", billable=False)
    cd = data(quarterly(), [lic, svc, off], [lcl(lic, "2026-01-01", 5), lcl(svc, "2026-01-01", 1),
                                             lcl(svc, "2026-02-15", 2), lcl(off, "2026-02-15", 9)])
    draft = build_change_log(cd, d("2026-03-01"), TODAY)
    assert [(l.name, str(l.amount)) for l in draft.lines] == [("B", "9.00")]  # 2 × 9 × 45/90
    assert {l.category for l in draft.lines} == {LineCategory.MID_CYCLE_CHANGE}


def test_discount_and_tax_per_line():
    s = sub(price="12.00", taxable=True)
    cd = data(quarterly(discount_percent=Decimal("12.5"), tax_percent=Decimal(8)), [s],
              [lcl(s, "2026-02-15", 4)])
    line = build_change_log(cd, d("2026-03-01"), TODAY).lines[0]
    # 72.00, discount 9.00, tax 8 % of 63.00 = 5.04, total 68.04
    assert (str(line.discount), str(line.tax), str(line.total)) == ("9.00", "5.04", "68.04")


# ---- usage and NRIs ----------------------------------------------------------------------------


def test_usage_has_no_minimum_commitment_and_no_line_when_the_sum_is_zero():
    u = sub("Calls", billing_type=BillingType.USAGE, minimum_commitment=Decimal(100))
    zero = [usage(u, "2026-01-10", "5"), usage(u, "2026-01-20", "-5")]
    cd = data(quarterly(), [u], usages=zero)
    assert build_change_log(cd, d("2026-02-01"), TODAY).nothing_to_invoice
    cd = data(quarterly(), [u], usages=[usage(u, "2026-01-10", "12.345")])
    draft = build_change_log(cd, d("2026-02-01"), TODAY)
    assert lines_of(draft) == [("1", "12.35", "2026-01-01", "2026-02-01")]


def test_negative_usage_sum_is_a_credit():
    u = sub("Calls", billing_type=BillingType.USAGE)
    cd = data(quarterly(), [u], usages=[usage(u, "2026-01-10", "-7.50")])
    assert lines_of(build_change_log(cd, d("2026-02-01"), TODAY)) == [
        ("1", "-7.50", "2026-01-01", "2026-02-01")]


def test_usage_and_nris_after_the_as_of_date_wait_for_later():
    u = sub("Calls", billing_type=BillingType.USAGE)
    late_use, late_nri = usage(u, "2026-02-02", "1"), nri("2026-02-02")
    cd = data(quarterly(), [u], usages=[late_use], nris=[late_nri])
    assert build_change_log(cd, d("2026-02-01"), TODAY).nothing_to_invoice
    draft = build_change_log(cd, d("2026-02-02"), TODAY)
    assert draft.consumption.usage_record_ids == (late_use.id,)
    assert draft.consumption.nri_ids == (late_nri.id,)


def test_otp_immediately_leaves_nris_to_the_one_time_invoice():
    s = sub(price="12.00")
    setup = nri("2026-01-15")
    cd = data(quarterly(otp_immediately=True), [s], [lcl(s, "2026-02-15", 1)], nris=[setup])
    draft = build_change_log(cd, d("2026-03-01"), TODAY)
    assert [l.category for l in draft.lines] == [LineCategory.MID_CYCLE_CHANGE]
    assert draft.consumption.nri_ids == ()
    only_nri = data(quarterly(otp_immediately=True), nris=[setup])
    assert build_change_log(only_nri, d("2026-03-01"), TODAY).nothing_to_invoice
    assert build_change_log(replace(only_nri, contract=replace(only_nri.contract, otp_immediately=False)),
                            d("2026-03-01"), TODAY).consumption.nri_ids == (setup.id,)


# ---- earlier cycles ----------------------------------------------------------------------------


def test_earlier_uninvoiced_cycle_with_an_active_lcl_refuses():
    s = sub(price="12.00")
    cd = data(quarterly(), [s], [lcl(s, "2026-02-15", 1), lcl(s, "2026-05-01", 1)])
    with pytest.raises(EarlierCyclesNotInvoiced) as err:
        build_change_log(cd, d("2026-05-10"), TODAY)
    assert err.value.status == 422 and err.value.code == "earlier_cycles_not_invoiced"
    assert err.value.message == "earlier billing cycles have not been invoiced: generate them first"
    assert err.value.details["cycles"] == ["2026-01-01"]


@pytest.mark.parametrize("status", [ScheduleStatus.PENDING, ScheduleStatus.ERROR])
def test_earlier_cycle_pending_or_error_refuses_even_on_its_first_day(status):
    s = sub(price="12.00")
    cd = data(quarterly(), [s], [lcl(s, "2026-01-01", 1)], schedules=[schedule("2026-01-01", status)])
    with pytest.raises(EarlierCyclesNotInvoiced):
        build_change_log(cd, d("2026-05-10"), TODAY)


def test_earlier_uninvoiced_cycle_without_billable_active_lcls_does_not_refuse():
    s = sub(price="12.00")
    off = sub("Off", price="1.00", billable=False)
    u = sub("Calls", billing_type=BillingType.USAGE)
    old_use = usage(u, "2026-02-01", "4.00")
    cd = data(quarterly(), [s, off, u],
              [lcl(s, "2025-12-01", 3),  # before S: quantity only
               lcl(s, "2026-02-01", 1, active=False), lcl(off, "2026-02-01", 1),
               lcl(s, "2026-05-01", 2)],
              usages=[old_use])
    draft = build_change_log(cd, d("2026-05-10"), TODAY)
    # 2 × 36 × 61/91 = 48.26…; the earlier cycle's usage is billed too, period from the current cycle
    assert lines_of(draft) == [("2", "48.26", "2026-05-01", "2026-06-30"),
                               ("1", "4.00", "2026-04-01", "2026-05-10")]
    assert draft.consumption.usage_record_ids == (old_use.id,)


def test_back_dated_lcl_in_an_invoiced_earlier_cycle_bills_in_its_own_cycle():
    s = sub(price="12.00")
    back = lcl(s, "2026-03-01", 1)
    cd = data(quarterly(), [s], [back], schedules=[schedule("2026-01-01")])
    draft = build_change_log(cd, d("2026-05-01"), TODAY)
    assert lines_of(draft) == [("1", "12.40", "2026-03-01", "2026-03-31")]  # 36 × 31/90
    assert draft.period_start == d("2026-04-01")


# ---- eligibility and dates ---------------------------------------------------------------------


@pytest.mark.parametrize("months", [1, 2])
def test_monthly_contracts_have_no_change_logs(months):
    with pytest.raises(ChangeLogNotAllowed) as err:
        build_change_log(data(contract(months=months)), d("2026-01-15"), TODAY)
    assert err.value.status == 422


def test_item_based_contracts_have_no_change_logs():
    with pytest.raises(ChangeLogNotAllowed):
        build_change_log(data(contract(type=ContractType.ITEM_BASED, months=12)), d("2026-01-15"), TODAY)


@pytest.mark.parametrize("as_of, words", [
    ("2027-01-01", "in the future"), ("2025-12-31", "before the contract starts"),
    ("2026-07-01", "after the contract ends")])
def test_as_of_in_the_future_or_outside_the_contract_refuses(as_of, words):
    with pytest.raises(ChangeLogNotAllowed) as err:
        build_change_log(data(quarterly(end="2026-06-30")), d(as_of), TODAY)
    assert words in err.value.message and err.value.status == 422


def test_as_of_today_is_allowed_and_triennial_cycles_work():
    s = sub(price="1.00")
    cd = data(contract("2026-01-01", months=36), [s], [lcl(s, "2026-12-31", 1)])
    draft = build_change_log(cd, TODAY, TODAY)
    # 1 × 36 × days([2026-12-31, 2028-12-31]) / days(2026-01-01 … 2028-12-31) = 36 × 732/1096
    assert lines_of(draft) == [("1", "24.04", "2026-12-31", "2028-12-31")]


def test_payment_terms_make_the_due_date():
    s = sub(price="12.00")
    cd = data(quarterly(payment_terms_days=0), [s], [lcl(s, "2026-02-15", 1)])
    draft = build_change_log(cd, d("2026-03-01"), TODAY)
    assert draft.due_date == draft.invoice_date == d("2026-03-01")


# ---- JPY ---------------------------------------------------------------------------------------


def test_jpy_precision_zero():
    s = sub("Seats", price="1000")
    u = sub("Calls", billing_type=BillingType.USAGE)
    cd = data(contract("2026-01-01", months=12, precision=0), [s, u],
              [lcl(s, "2026-01-01", 2), lcl(s, "2026-02-10", 1)], [usage(u, "2026-02-20", "333.5")])
    draft = build_change_log(cd, d("2026-03-01"), TODAY)
    # 12000 × 325/365 = 10684.93 → 10685; usage 333.5 → 334 (half up)
    assert [str(l.amount) for l in draft.lines] == ["10685", "334"]
    body = preview_json(draft)
    assert body["totals"]["total"] == "11019" and body["lines"][0]["unit_price"] == "12000"


# ---- keys and preview --------------------------------------------------------------------------


def test_change_log_keys_round_trip():
    assert change_log_key(d("2026-02-15")) == "change-log:2026-02-15"
    assert parse_change_log_key("change-log:2026-02-15") == d("2026-02-15")
    for other in ("2026-02-15", "one-time", "change-log:2026-02-30", "change-log:", None, 5):
        assert parse_change_log_key(other) is None


def test_preview_json_of_a_change_log():
    cd, *_ = worked_example()
    body = preview_json(build_change_log(cd, d("2026-03-01"), TODAY))
    assert body["kind"] == "change_log" and body["as_of"] == "2026-03-01"
    assert body["invoice_category"] == "Change Log" and body["schedule_date"] is None
    assert body["cycle"] == {"key": "change-log:2026-03-01", "start": "2026-01-01",
                             "end": "2026-03-01", "status": "invoiced"}
    assert [g["line_count"] for g in body["categories"]] == [0, 1, 0, 0, 0]
    cycle_body = preview_json(build_invoice(cd, "2026-04-01", d("2026-03-01")))
    assert cycle_body["kind"] == "cycle" and cycle_body["as_of"] is None


# ---- the interplay with the cycle invoice: where the totals differ -----------------------------


def pair_and_alone(cd, as_of, cycle_key):
    log = build_change_log(cd, d(as_of), TODAY)
    after = build_invoice(archive(cd, log), cycle_key, d(as_of))
    alone = build_invoice(cd, cycle_key, d(as_of))
    pair = [log.totals.amount + after.totals.amount, log.totals.discount + after.totals.discount,
            log.totals.tax + after.totals.tax, log.totals.total + after.totals.total]
    return [str(x) for x in pair], [str(x) for x in (
        alone.totals.amount, alone.totals.discount, alone.totals.tax, alone.totals.total)]


def usage_case(first, rest, minimum="0", precision=2, **kw):
    u = sub("Calls", billing_type=BillingType.USAGE, minimum_commitment=Decimal(minimum), **kw.pop("sub", {}))
    c = contract("2026-01-01", months=3, precision=precision, **kw)
    return data(c, [u], usages=[usage(u, "2026-01-10", first), usage(u, "2026-02-10", rest)])


@pytest.mark.parametrize("first, rest, minimum, precision, pair, alone", [
    ("10.00", "20.00", "0", 2, "30.00", "30.00"),      # plain sums: equal
    ("0.005", "0.005", "0", 2, "0.02", "0.01"),        # rounding of split sums
    ("0.5", "0.5", "0", 0, "2", "1"),                  # the same in JPY
    ("-5.00", "3.00", "0", 2, "-2.00", "0.00"),        # a negative first sum is a credit
    ("5.00", "-3.00", "0", 2, "5.00", "2.00"),         # a negative rest bills max(Σ2, 0)
    ("10.00", "20.00", "25", 2, "35.00", "30.00"),     # the minimum applies to the rest
    ("10.00", "20.00", "100", 2, "110.00", "100.00"),  # minimum above everything: + round(Σ1)
    ("10.00", "20.00", "15", 2, "30.00", "30.00"),     # minimum below the rest: equal
])
def test_usage_is_where_the_pair_and_the_cycle_invoice_alone_differ(first, rest, minimum, precision,
                                                                     pair, alone):
    got_pair, got_alone = pair_and_alone(usage_case(first, rest, minimum, precision), "2026-01-31",
                                         "2026-01-01")
    assert (got_pair[0], got_alone[0]) == (pair, alone)


def test_split_usage_lines_round_discount_on_their_own():
    cd = usage_case("0.05", "0.05", discount_percent=Decimal(50))
    pair, alone = pair_and_alone(cd, "2026-01-31", "2026-01-01")
    assert pair[:2] == ["0.10", "0.06"] and alone[:2] == ["0.10", "0.05"]


def test_everything_but_usage_adds_up_exactly():
    s = sub("Seats", price="12.34", taxable=True)
    svc = sub("Support", price="7.77", billing_type=BillingType.SERVICE)
    cd = data(quarterly(discount_percent=Decimal("7.5"), tax_percent=Decimal("8.25"), apply_refunds=True),
              [s, svc],
              [lcl(s, "2026-01-01", 3), lcl(s, "2026-01-17", 2), lcl(s, "2026-02-03", -1, price="11.11"),
               lcl(svc, "2026-01-01", 1), lcl(svc, "2026-03-01", 1), lcl(s, "2026-03-30", 4)],
              nris=[nri("2026-01-05", 3, "3.333", taxable=True), nri("2026-03-15", 1, "9.99")])
    pair, alone = pair_and_alone(cd, "2026-02-10", "2026-01-01")
    assert pair == alone
