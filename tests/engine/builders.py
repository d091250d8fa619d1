"""Engine test data: dataclasses with sensible defaults, every field overridable."""

from __future__ import annotations

import itertools
from dataclasses import replace
from datetime import date
from decimal import Decimal

from plugin.engine import (
    BillingPolicy,
    BillingSchedule,
    BillingType,
    ChangeLog,
    Contract,
    ContractData,
    ContractType,
    Currency,
    InvoiceRef,
    NonRecurringItem,
    ProrateUnit,
    ScheduleStatus,
    Subscription,
    UsageRecord,
)

_ids = itertools.count(1)


def D(value) -> Decimal:
    """Decimal from str/int (never float)."""
    return Decimal(str(value)) if not isinstance(value, Decimal) else value


def d(text: str) -> date:
    """date from "YYYY-MM-DD"."""
    return date.fromisoformat(text)


def new_id(prefix: str) -> str:
    """A readable unique id."""
    return f"{prefix}-{next(_ids):05d}"


def contract(
    start="2026-01-01",
    end=None,
    months=1,
    policy=BillingPolicy.ADVANCE,
    unit=ProrateUnit.DAYS,
    precision=2,
    type=ContractType.RECURRING,
    **kw,
) -> Contract:
    """A Recurring Monthly Advance Days contract in a precision-2 currency unless told otherwise."""
    return Contract(
        id=kw.pop("id", "contract-1"),
        name=kw.pop("name", "Contoso"),
        account_id=kw.pop("account_id", "acct-1"),
        type=type,
        months=months,
        policy=policy,
        prorate_unit=unit,
        start=d(start),
        end=d(end) if end else None,
        currency=kw.pop("currency", Currency("cur-1", "USD", precision)),
        **kw,
    )


def sub(name="License A", price="10.00", billing_type=BillingType.LICENSE, **kw) -> Subscription:
    """A billable, non-taxable subscription."""
    return Subscription(
        id=kw.pop("id", None) or new_id("sub"),
        name=name,
        billing_type=billing_type,
        price=D(price),
        **kw,
    )


def lcl(
    subscription: Subscription, effective: str, delta, price=None, active=True, **kw
) -> ChangeLog:
    """A change log of `subscription`."""
    return ChangeLog(
        id=kw.pop("id", None) or new_id("lcl"),
        subscription_id=subscription.id,
        effective_date=d(effective),
        quantity_change=D(delta),
        price=None if price is None else D(price),
        active=active,
        **kw,
    )


def usage(subscription: Subscription, charge: str, amount, unbilled=True, **kw) -> UsageRecord:
    """A usage record of `subscription`."""
    return UsageRecord(
        id=kw.pop("id", None) or new_id("use"),
        subscription_id=subscription.id,
        charge_date=d(charge),
        amount=D(amount),
        unbilled=unbilled,
        **kw,
    )


def nri(effective: str, quantity=1, unit_price="100.00", name=None, **kw) -> NonRecurringItem:
    """An Unbilled non-recurring item."""
    return NonRecurringItem(
        id=kw.pop("id", None) or new_id("nri"),
        name=name or "Setup fee",
        quantity=D(quantity),
        unit_price=D(unit_price),
        effective_date=d(effective),
        **kw,
    )


def schedule(start: str, status=ScheduleStatus.INVOICED, invoice_id=None, **kw) -> BillingSchedule:
    """A billing schedule row of the cycle starting on `start`."""
    return BillingSchedule(
        id=kw.pop("id", None) or new_id("sch"),
        cycle_start=d(start),
        cycle_end=None,
        status=status,
        invoice_id=invoice_id,
        **kw,
    )


def data(
    c: Contract | None = None,
    subs=(),
    lcls=(),
    usages=(),
    nris=(),
    schedules=(),
    invoices: dict[str, list[tuple[str, str]]] | None = None,
) -> ContractData:
    """ContractData; `invoices` = {cycle key: [(id, number), ...]}."""
    return ContractData(
        contract=c or contract(),
        subscriptions=tuple(subs),
        change_logs=tuple(lcls),
        usage_records=tuple(usages),
        nris=tuple(nris),
        schedules=tuple(schedules),
        cycle_invoices={
            k: tuple(InvoiceRef(i, n) for i, n in v) for k, v in (invoices or {}).items()
        },
    )


def with_contract(cd: ContractData, **changes) -> ContractData:
    """The same data with contract fields changed."""
    return replace(cd, contract=replace(cd.contract, **changes))


def archive(cd: ContractData, draft) -> ContractData:
    """The data after `draft` was created: what it consumed is Archived / Invoiced."""
    c = draft.consumption
    return replace(
        cd,
        change_logs=tuple(
            replace(x, active=False) if x.id in c.change_log_ids else x for x in cd.change_logs
        ),
        usage_records=tuple(
            replace(x, unbilled=False) if x.id in c.usage_record_ids else x
            for x in cd.usage_records
        ),
        nris=tuple(replace(x, unbilled=False) if x.id in c.nri_ids else x for x in cd.nris),
    )


def money(draft, category=None) -> list[str]:
    """The line amounts of a draft (optionally of one category) as strings."""
    return [str(l.amount) for l in draft.lines if category is None or l.category == category]
