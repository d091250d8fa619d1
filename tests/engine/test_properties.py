"""Hypothesis properties of the engine (derandomized, see strategies.ENGINE)."""

from dataclasses import replace
from datetime import timedelta
from decimal import ROUND_HALF_UP, Decimal, localcontext

from hypothesis import assume, given, strategies as st

from plugin.engine import (
    ONE_TIME,
    BillingType,
    ChangeLog,
    ContractData,
    LineCategory,
    NonRecurringItem,
    ProrateUnit,
    Subscription,
    add_months,
    build_invoice,
    cycle_at,
    cycle_containing,
    cycle_for_key,
    cycle_index,
    preview_hash,
    preview_json,
)
from plugin.engine.rules import proration_factor

from .builders import archive
from .strategies import ENGINE, contract_data, contracts, money


def quantize(value: Decimal, places: int) -> Decimal:
    with localcontext() as ctx:
        ctx.prec = 60
        return value.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)


def existing_cycles(cd: ContractData, limit: int = 6) -> list:
    return [c for c in (cycle_at(cd.contract, i) for i in range(limit)) if c is not None]


@ENGINE
@given(contract_data(), st.integers(0, 5))
def test_totals_are_sums_of_rounded_lines(cd, index):
    cycles = existing_cycles(cd)
    assume(cycles)
    draft = build_invoice(cd, cycles[min(index, len(cycles) - 1)].key, cd.contract.start)
    p, c = draft.precision, cd.contract
    for line in draft.lines:
        for value in (line.amount, line.discount, line.tax, line.total):
            assert value.as_tuple().exponent == -p
        # an independent oracle: exact Decimal products, quantized once
        assert line.discount == quantize(line.amount * c.discount_percent / 100, p)
        expected_tax = (
            quantize((line.amount - line.discount) * c.tax_percent / 100, p) if line.taxable else 0
        )
        assert line.tax == expected_tax
        assert line.total == line.amount - line.discount + line.tax
    t = draft.totals
    assert t.amount == sum(l.amount for l in draft.lines)
    assert t.discount == sum(l.discount for l in draft.lines)
    assert t.tax == sum(l.tax for l in draft.lines)
    assert t.total == sum(l.total for l in draft.lines)
    body = preview_json(draft)
    for key in ("amount", "discount", "tax", "total"):
        assert Decimal(body["totals"][key]) == sum(Decimal(g[key]) for g in body["categories"])
        assert Decimal(body["totals"][key]) == sum(Decimal(l[key]) for l in body["lines"])


@ENGINE
@given(contracts(end=False), money(300, places=2), st.integers(1, 40), st.integers(1, 8))
def test_constant_quantity_full_cycles_add_up(contract, price, quantity, n):
    c = replace(
        contract, currency=replace(contract.currency, precision=max(contract.currency.precision, 2))
    )
    s = Subscription("sub", "License", BillingType.LICENSE, price)
    cd = ContractData(
        c, (s,), (ChangeLog("create", "sub", c.start, Decimal(quantity), active=False),)
    )
    total = Decimal(0)
    for i in range(n):
        draft = build_invoice(cd, cycle_at(c, i).key, c.start)
        (line,) = draft.lines
        assert line.proration_factor is None and line.category == LineCategory.FULL_CYCLE
        total += line.amount
    assert total == quantity * price * c.months * n


@ENGINE
@given(contracts(end=False), st.integers(0, 6), money(300, places=4), st.integers(1, 30))
def test_proration_of_a_whole_cycle_is_the_whole_amount(contract, index, price, quantity):
    full = cycle_at(contract, index)
    s = Subscription("sub", "License", BillingType.LICENSE, price)
    logs = (ChangeLog("create", "sub", contract.start, Decimal(quantity), active=False),)
    open_ended = build_invoice(ContractData(contract, (s,), logs), full.key, contract.start).lines[
        0
    ]
    for unit in ProrateUnit:
        ended = replace(contract, end=full.full_end, prorate_unit=unit)  # E on the cycle's last day
        line = build_invoice(ContractData(ended, (s,), logs), full.key, contract.start).lines[0]
        assert line.proration_factor is None and line.amount == open_ended.amount
        assert cycle_at(ended, index + 1) is None


@ENGINE
@given(contracts(end=False), st.integers(0, 4), st.integers(0, 1100), st.integers(0, 1100))
def test_proration_factor_is_in_range_and_monotone(contract, index, a, b):
    full = cycle_at(contract, index)
    length = (full.full_end - full.start).days
    e1, e2 = sorted(
        (
            full.start + timedelta(days=a % (length + 1)),
            full.start + timedelta(days=b % (length + 1)),
        )
    )
    for unit in ProrateUnit:
        f1 = proration_factor(
            replace(contract, end=e1, prorate_unit=unit), cycle_at(replace(contract, end=e1), index)
        )
        f2 = proration_factor(
            replace(contract, end=e2, prorate_unit=unit), cycle_at(replace(contract, end=e2), index)
        )
        assert 0 < f1 <= f2 <= 1
        assert (f1 == 1) == (e1 == full.full_end)


@ENGINE
@given(contract_data(), st.integers(1, 6))
def test_nothing_is_consumed_twice_across_consecutive_invoices(cd, n):
    cycles = existing_cycles(cd, n)
    seen: set[str] = set()
    last_created = None
    for cycle in cycles:
        draft = build_invoice(cd, cycle.key, cycle.start)
        if draft.nothing_to_invoice:
            continue
        consumed = set(
            draft.consumption.change_log_ids
            + draft.consumption.usage_record_ids
            + draft.consumption.nri_ids
        )
        assert not consumed & seen, "consumed twice"
        active = (
            {x.id for x in cd.change_logs if x.active}
            | {x.id for x in cd.usage_records if x.unbilled}
            | {x.id for x in cd.nris if x.unbilled}
        )
        assert consumed <= active, "consumed an already archived/invoiced row"
        seen |= consumed
        cd = archive(cd, draft)
        last_created = cycle
        # re-invoicing the same cycle never consumes anything again
        again = build_invoice(cd, cycle.key, cycle.start)
        assert (
            not set(
                again.consumption.change_log_ids
                + again.consumption.usage_record_ids
                + again.consumption.nri_ids
            )
            & seen
        )
    if cd.contract.otp_immediately:
        one_time = build_invoice(cd, ONE_TIME, cd.contract.start)
        assert not set(one_time.consumption.nri_ids) & seen
        cd = archive(cd, one_time) if not one_time.nothing_to_invoice else cd
    if last_created is not None:
        # every qualifying row up to the last invoiced cycle's end has been consumed (exactly once)
        subs = cd.subscriptions_by_id
        for x in cd.change_logs:
            s = subs.get(x.subscription_id)
            if (
                s
                and s.billable
                and s.is_recurring
                and cd.contract.start <= x.effective_date <= last_created.end
            ):
                assert not x.active
        for u in cd.usage_records:
            s = subs.get(u.subscription_id)
            if (
                s
                and s.billable
                and s.billing_type == BillingType.USAGE
                and u.charge_date <= last_created.end
            ):
                assert not u.unbilled
        if not cd.contract.otp_immediately:
            assert all(not n.unbilled for n in cd.nris if n.effective_date <= last_created.end)


@ENGINE
@given(
    contract_data(), st.integers(0, 4), st.sampled_from(["etag", "name", "terms", "minimum", "nri"])
)
def test_preview_hash_is_deterministic_and_tracks_changes(cd, index, change):
    cycles = existing_cycles(cd)
    assume(cycles)
    key = cycles[min(index, len(cycles) - 1)].key
    cd = replace(cd, contract=replace(cd.contract, etag='W/"1"', otp_immediately=False))
    first = preview_hash(build_invoice(cd, key, cd.contract.start))
    assert first == preview_hash(build_invoice(replace(cd), key, cd.contract.start))
    c = cd.contract
    if change == "etag":
        changed = replace(cd, contract=replace(c, etag='W/"2"'))
    elif change == "name":
        changed = replace(cd, contract=replace(c, name=c.name + " (renamed)"))
    elif change == "terms":
        changed = replace(cd, contract=replace(c, payment_terms_days=c.payment_terms_days + 1))
    elif change == "minimum":
        extra = Subscription(
            "sub-new", "Z", BillingType.USAGE, Decimal(0), minimum_commitment=Decimal(1)
        )
        changed = replace(cd, subscriptions=cd.subscriptions + (extra,))
    else:
        changed = replace(
            cd,
            nris=cd.nris + (NonRecurringItem("nri-new", "New", Decimal(1), Decimal(1), c.start),),
        )
    assert preview_hash(build_invoice(changed, key, c.start)) != first


@ENGINE
@given(contract_data(), contract_data())
def test_different_previews_have_different_hashes(cd1, cd2):
    def body_and_hash(cd):
        cycles = existing_cycles(cd, 1)
        assume(cycles)
        draft = build_invoice(cd, cycles[0].key, cd.contract.start)
        body = preview_json(draft)
        return {k: v for k, v in body.items() if k != "preview_hash"}, body["preview_hash"]

    b1, h1 = body_and_hash(cd1)
    b2, h2 = body_and_hash(cd2)
    if b1 != b2:  # equal bodies may still differ by ETags
        assert h1 != h2
    if cd1 == cd2:
        assert h1 == h2


@ENGINE
@given(contracts(end=False), st.integers(0, 60), st.integers(0, 40))
def test_cycles_tile_time_and_keys_round_trip(contract, index, offset):
    cycle, following = cycle_at(contract, index), cycle_at(contract, index + 1)
    assert following.start == cycle.full_end + timedelta(days=1)
    assert cycle.start == add_months(contract.start, index * contract.months)
    assert cycle_for_key(contract, cycle.key) == cycle
    inside = min(cycle.start + timedelta(days=offset), cycle.full_end)
    assert cycle_index(contract, inside) == index
    assert cycle_containing(contract, inside) == cycle
