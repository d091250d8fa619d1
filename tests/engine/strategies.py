"""Hypothesis strategies: random contracts with subscriptions, LCLs, usage and NRIs."""

from __future__ import annotations

import calendar
from datetime import date, timedelta
from decimal import Decimal

from hypothesis import settings, strategies as st

from plugin.engine import (
    BillingPolicy,
    BillingType,
    ChangeLog,
    Contract,
    ContractData,
    ContractType,
    Currency,
    NonRecurringItem,
    ProrateUnit,
    Subscription,
    UsageRecord,
)

# Derandomized (reproducible in CI) and sized for the engine's < 90 s budget.
ENGINE = settings(max_examples=120, derandomize=True, deadline=None)

MONTHS = st.sampled_from([1, 3, 12, 36])
PRECISION = st.sampled_from([0, 2, 3])


def _clamped(year: int, month: int, day: int) -> date:
    return date(year, month, min(day, calendar.monthrange(year, month)[1]))


# Any date, plus many month-end starts (28th–31st, leap Februaries): where anchoring is subtle.
START = st.one_of(
    st.dates(date(2024, 1, 1), date(2028, 12, 31)),
    st.builds(
        _clamped, st.integers(2024, 2028), st.integers(1, 12), st.sampled_from([28, 29, 30, 31])
    ),
)


def money(max_value=500, places=2):
    """Non-negative money with up to `places` decimals."""
    return st.decimals(
        min_value=0, max_value=max_value, places=places, allow_nan=False, allow_infinity=False
    )


def percent():
    """0 or a percentage with 2 decimals."""
    return st.one_of(st.just(Decimal(0)), st.decimals(min_value=0, max_value=40, places=2))


@st.composite
def contracts(draw, *, end=None, item_based=False) -> Contract:
    """A random Recurring contract (or Item Based)."""
    start = draw(START)
    months = draw(MONTHS)
    if end is None:
        end = draw(
            st.one_of(st.none(), st.integers(0, 1600).map(lambda n: start + timedelta(days=n)))
        )
    elif end is False:
        end = None
    return Contract(
        id="contract",
        name="Random",
        account_id="acct",
        type=ContractType.ITEM_BASED if item_based else ContractType.RECURRING,
        months=months,
        policy=draw(st.sampled_from(list(BillingPolicy))),
        prorate_unit=draw(st.sampled_from(list(ProrateUnit))),
        start=start,
        end=end,
        currency=Currency("cur", "XXX", draw(PRECISION)),
        otp_immediately=draw(st.booleans()),
        discount_percent=draw(percent()),
        tax_percent=draw(percent()),
        apply_refunds=draw(st.booleans()),
        payment_terms_days=draw(st.integers(0, 90)),
        offset_days=draw(st.integers(0, 10)),
    )


@st.composite
def contract_data(draw, contract=None) -> ContractData:
    """A contract with 0–4 subscriptions, their LCLs/usage, and NRIs, dated around the contract."""
    c = draw(contract if contract is not None else contracts())
    span = st.integers(-90, 1200).map(lambda n: c.start + timedelta(days=n))
    subs, logs, uses, nris = [], [], [], []
    for i in range(draw(st.integers(0, 4))):
        kind = draw(st.sampled_from(list(BillingType)))
        s = Subscription(
            id=f"sub-{i}",
            name=draw(st.sampled_from(["A", "B", "C"])),
            billing_type=kind,
            price=draw(money(places=4)),
            billable=draw(st.booleans() | st.just(True)),
            taxable=draw(st.booleans()),
            minimum_commitment=draw(st.one_of(st.just(Decimal(0)), money(100))),
            etag=f"s{i}",
        )
        subs.append(s)
        for j in range(draw(st.integers(0, 5))):
            logs.append(
                ChangeLog(
                    id=f"lcl-{i}-{j}",
                    subscription_id=s.id,
                    effective_date=draw(span),
                    quantity_change=Decimal(draw(st.integers(-5, 12))),
                    price=draw(st.one_of(st.none(), money(places=2))),
                    active=draw(st.booleans() | st.just(True)),
                    etag=f"l{i}{j}",
                )
            )
        for j in range(draw(st.integers(0, 3))):
            uses.append(
                UsageRecord(
                    id=f"use-{i}-{j}",
                    subscription_id=s.id,
                    charge_date=draw(span),
                    amount=draw(st.decimals(-50, 300, places=3)),
                    unbilled=draw(st.booleans() | st.just(True)),
                )
            )
    for k in range(draw(st.integers(0, 3))):
        nris.append(
            NonRecurringItem(
                id=f"nri-{k}",
                name=f"Item {k}",
                quantity=Decimal(draw(st.integers(-2, 5))),
                unit_price=draw(money(places=3)),
                effective_date=draw(span),
                taxable=draw(st.booleans()),
                unbilled=draw(st.booleans() | st.just(True)),
            )
        )
    return ContractData(c, tuple(subs), tuple(logs), tuple(uses), tuple(nris))
