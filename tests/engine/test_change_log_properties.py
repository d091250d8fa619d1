"""Change-log invoices, by property: refusals, and the interplay with the cycle invoice.

A change log as of A followed by the invoice of a cycle C that ends on or after A consumes every
source exactly once, and bills what C's invoice alone would have billed, except for usage
(docs/billing-rules.md, "Change-log invoices"): per billable Usage subscription, the two invoices
bill round(Σ1) + round(max(Σ2, m)) where C alone bills round(max(Σ1 + Σ2, m)) (Σ1: the records
up to A, Σ2: the rest up to C's end, m: the minimum commitment), and each of the two usage lines
has its own discount and tax rounding.
"""

from dataclasses import replace
from datetime import timedelta
from decimal import Decimal

from hypothesis import assume, given, strategies as st

from plugin.engine import (
    BillingType,
    ChangeLogNotAllowed,
    EarlierCyclesNotInvoiced,
    LineCategory,
    ScheduleStatus,
    build_change_log,
    build_invoice,
    cycle_at,
    cycle_containing,
)
from plugin.engine.money import round_half_up

from .builders import archive, schedule
from .strategies import ENGINE, contract_data, contracts

LONG_CYCLES = contracts().filter(lambda c: c.months >= 3)


@st.composite
def change_log_case(draw):
    """(data, A, today): a quarterly-or-longer contract, earlier cycles maybe Invoiced."""
    cd = draw(contract_data(LONG_CYCLES))
    c = cd.contract
    as_of = c.start + timedelta(days=draw(st.integers(-5, 1300)))
    today = as_of + timedelta(days=draw(st.integers(-2, 40)))
    current = cycle_containing(c, as_of)
    if current is not None and draw(st.booleans()):
        status = draw(st.sampled_from([ScheduleStatus.INVOICED] * 3 + [ScheduleStatus.ERROR]))
        cd = replace(cd, schedules=tuple(
            schedule(cycle_at(c, i).key, status, id=f"sch-{i}") for i in range(current.index)))
    return cd, as_of, today


def refusal_expected(cd, as_of, today):
    c = cd.contract
    if as_of > today:
        return ChangeLogNotAllowed
    current = cycle_containing(c, as_of)
    if current is None:
        return ChangeLogNotAllowed
    billable = {s.id for s in cd.subscriptions if s.billable and s.billing_type != BillingType.USAGE}
    invoiced = {s.cycle_start for s in cd.schedules if s.status == ScheduleStatus.INVOICED}
    for lcl in cd.change_logs:
        if lcl.active and lcl.subscription_id in billable and c.start <= lcl.effective_date < current.start:
            if cycle_containing(c, lcl.effective_date).start not in invoiced:
                return EarlierCyclesNotInvoiced
    return None


@ENGINE
@given(change_log_case())
def test_refuses_exactly_when_the_rules_say(case):
    cd, as_of, today = case
    expected = refusal_expected(cd, as_of, today)
    try:
        draft = build_change_log(cd, as_of, today)
    except (ChangeLogNotAllowed, EarlierCyclesNotInvoiced) as exc:
        assert type(exc) is expected and exc.status == 422
        return
    assert expected is None
    assert draft.invoice_date == draft.period_end == as_of
    assert draft.period_start <= as_of and draft.schedule_date is None
    assert {l.category for l in draft.lines} <= {
        LineCategory.MID_CYCLE_CHANGE, LineCategory.USAGE, LineCategory.NON_RECURRING}
    for line in draft.lines:
        if line.category == LineCategory.MID_CYCLE_CHANGE:
            assert line.period_start <= as_of
        else:
            assert (line.period_start, line.period_end) == (draft.period_start, as_of)
    assert draft.totals.total == sum((l.total for l in draft.lines), Decimal(0))


def usage_split(cd, as_of, cycle_end, precision):
    """Per billable Usage subscription: (Σ1, Σ2, m) of the records up to A and after A up to ce."""
    found = {}
    for s in cd.subscriptions:
        if not (s.billable and s.billing_type == BillingType.USAGE):
            continue
        records = [u for u in cd.usage_records if u.subscription_id == s.id and u.unbilled]
        first = sum((u.amount for u in records if u.charge_date <= as_of), Decimal(0))
        rest = sum((u.amount for u in records if as_of < u.charge_date <= cycle_end), Decimal(0))
        found[s.id] = (first, rest, s.minimum_commitment)
    return found


def usage_amount(total, minimum, precision):
    return Decimal(0) if total == 0 and minimum == 0 else round_half_up(max(total, minimum), precision)


def lines_by_source(draft, categories):
    return sorted((int(l.category), l.subscription_id or "", l.change_log_id or "", l.nri_id or "",
                   l.amount, l.discount, l.tax, l.total)
                  for l in draft.lines if l.category in categories)


OTHER = {LineCategory.FULL_CYCLE, LineCategory.SERVICE, LineCategory.MID_CYCLE_CHANGE,
         LineCategory.NON_RECURRING}


@ENGINE
@given(change_log_case(), st.integers(0, 1))
def test_change_log_then_cycle_invoice_consumes_once_and_bills_what_the_cycle_alone_bills(case, later):
    cd, as_of, today = case
    assume(refusal_expected(cd, as_of, today) is None)
    log = build_change_log(cd, as_of, today)
    cycle = cycle_at(cd.contract, cycle_containing(cd.contract, as_of).index + later)
    assume(cycle is not None)
    alone = build_invoice(cd, cycle.key, as_of)
    after = build_invoice(archive(cd, log) if log.lines else cd, cycle.key, as_of)
    taken = log.consumption if log.lines else None
    for kind in ("change_log_ids", "usage_record_ids", "nri_ids"):
        first = set(getattr(taken, kind)) if taken else set()
        second = set(getattr(after.consumption, kind))
        assert not first & second
        assert first | second == set(getattr(alone.consumption, kind))
    # every line but usage is the same line, with the same discount and tax
    assert sorted(lines_by_source(log, OTHER) + lines_by_source(after, OTHER)) == lines_by_source(alone, OTHER)
    precision = cd.contract.currency.precision
    predicted = Decimal(0)
    split_usage = False
    if log.lines:
        for first, rest, minimum in usage_split(cd, as_of, cycle.end, precision).values():
            split = (round_half_up(first, precision) if first != 0 else 0) + usage_amount(rest, minimum, precision)
            predicted += split - usage_amount(first + rest, minimum, precision)
            split_usage |= first != 0
    amounts = log.totals.amount + after.totals.amount
    assert amounts - alone.totals.amount == predicted
    if not split_usage:
        assert (log.totals.discount + after.totals.discount, log.totals.tax + after.totals.tax,
                log.totals.total + after.totals.total) == (
            alone.totals.discount, alone.totals.tax, alone.totals.total)


@ENGINE
@given(change_log_case())
def test_nothing_to_invoice_exactly_when_no_source_makes_a_line(case):
    cd, as_of, today = case
    assume(refusal_expected(cd, as_of, today) is None)
    draft = build_change_log(cd, as_of, today)
    assert draft.nothing_to_invoice == (not draft.lines)
    usage_sums = [first for first, _, _ in usage_split(cd, as_of, as_of, 2).values()]
    makes_usage = any(s != 0 for s in usage_sums)
    assert makes_usage == any(l.category == LineCategory.USAGE for l in draft.lines)
