"""The four line rules of a cycle invoice (docs/billing-rules.md) and the one-time invoice's NRI lines.

Each rule returns `RuleLine`s (an `InvoiceLine` with its amount rounded once, before discount and
tax, and its sort key of docs/billing-rules.md) and the ids it consumes. Exact values are `Fraction`s,
rounded by `round_half_up` exactly where the rules say.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from fractions import Fraction
from typing import NamedTuple

from .cycles import Cycle, add_months, cycle_containing, days, ONE_DAY
from .draft import InvoiceLine, LineCategory
from .model import BillingType, Contract, ContractData, NonRecurringItem, ProrateUnit
from .money import exact, plain, round_half_up
from .quantity import qty_at


class RuleLine(NamedTuple):
    """A line as a rule makes it (before discount and tax) and its place in the order."""

    sort_key: tuple
    line: InvoiceLine


def proration_factor(contract: Contract, cycle: Cycle) -> Fraction:
    """`f` of rule 1: 1 for a whole cycle, else by Days or by Months as docs/billing-rules.md writes it."""
    if not cycle.is_clipped:
        return Fraction(1)
    if contract.prorate_unit == ProrateUnit.DAYS:
        return Fraction(days(cycle.start, cycle.end), days(cycle.full_start, cycle.full_end))
    m, base = contract.months, cycle.index * contract.months
    bounds = [add_months(contract.start, base + j) for j in range(m + 1)]  # b_0 = fs … b_M = fe + 1
    k = max(j for j, b in enumerate(bounds) if b <= cycle.end + ONE_DAY)
    if k == m:
        return Fraction(1)
    leftover = days(bounds[k], cycle.end)  # L = [b_k, ce], maybe empty
    month = days(bounds[k], bounds[k + 1] - ONE_DAY)
    return (k + Fraction(leftover, month)) / m


def _billable(data: ContractData, kinds: tuple[BillingType, ...]):
    return [s for s in data.subscriptions if s.billable and s.billing_type in kinds]


def full_cycle_lines(data: ContractData, cycle: Cycle) -> list[RuleLine]:
    """Rule 1: per billable License/Service subscription with `q = qty_at(cs) > 0`."""
    contract, precision = data.contract, data.contract.currency.precision
    f = proration_factor(contract, cycle)
    lines = []
    for sub in _billable(data, (BillingType.LICENSE, BillingType.SERVICE)):
        q = qty_at(data.change_logs_by_subscription.get(sub.id, ()), cycle.start)
        if q <= 0:
            continue
        unit = sub.price * contract.months
        amount = round_half_up(exact(q) * exact(unit) * f, precision)
        is_license = sub.billing_type == BillingType.LICENSE
        lines.append(RuleLine((0, sub.name, sub.id), InvoiceLine(
            category=LineCategory.FULL_CYCLE if is_license else LineCategory.SERVICE,
            name=sub.name, description=sub.name, period_start=cycle.start, period_end=cycle.end,
            quantity=q, unit_price=unit, proration_factor=None if f == 1 else f, amount=amount,
            taxable=sub.taxable, subscription_id=sub.id)))
    return lines


def mid_cycle_lines(data: ContractData, cycle: Cycle) -> tuple[list[RuleLine], list[str]]:
    """Rule 2: Active LCLs with `S ≤ d ≤ ce`, prorated in their own cycle K; all consumed."""
    return mid_cycle_lines_through(data, cycle.end)


def mid_cycle_lines_through(data: ContractData, last_day: date) -> tuple[list[RuleLine], list[str]]:
    """Rule 2 over the Active LCLs with `S ≤ d ≤ last_day`; every one looked at is consumed."""
    contract, precision = data.contract, data.contract.currency.precision
    lines, consumed = [], []
    for sub in _billable(data, (BillingType.LICENSE, BillingType.SERVICE)):
        for lcl in data.change_logs_by_subscription.get(sub.id, ()):
            d = lcl.effective_date
            if not lcl.active or d < contract.start or d > last_day:
                continue
            consumed.append(lcl.id)
            k = cycle_containing(contract, d)
            if k is None or d == k.full_start:  # None cannot happen for S ≤ d ≤ last_day ≤ E
                continue
            price = sub.price if lcl.price is None else lcl.price
            unit = price * contract.months
            factor = Fraction(days(d, k.end), days(k.full_start, k.full_end))
            amount = round_half_up(exact(lcl.quantity_change) * exact(unit) * factor, precision)
            if amount < 0 and not contract.apply_refunds:
                continue
            sign = "+" if lcl.quantity_change >= 0 else ""
            lines.append(RuleLine((1, d, lcl.id), InvoiceLine(
                category=LineCategory.MID_CYCLE_CHANGE, name=sub.name,
                # the date lives in the line's period, shown in the reader's own date format
                description=f"{sub.name}: {sign}{plain(lcl.quantity_change)} mid-cycle change",
                period_start=d, period_end=k.end, quantity=lcl.quantity_change, unit_price=unit,
                proration_factor=factor, amount=amount, taxable=sub.taxable,
                subscription_id=sub.id, change_log_id=lcl.id)))
    return lines, consumed


def usage_lines(data: ContractData, cycle: Cycle) -> tuple[list[RuleLine], list[str]]:
    """Rule 3: per billable Usage subscription, Unbilled records with `chargedate ≤ ce`."""
    return usage_lines_through(data, cycle.end, (cycle.start, cycle.end), with_minimum=True)


def usage_lines_through(data: ContractData, last_day: date, period: tuple[date, date], *,
                        with_minimum: bool) -> tuple[list[RuleLine], list[str]]:
    """Rule 3 over the Unbilled records with `chargedate ≤ last_day`, lines over `period`.

    Without the minimum commitment (a change log) the amount is round(Σ), no line when Σ = 0.
    """
    precision = data.contract.currency.precision
    lines, consumed = [], []
    for sub in _billable(data, (BillingType.USAGE,)):
        records = [u for u in data.usage_by_subscription.get(sub.id, ())
                   if u.unbilled and u.charge_date <= last_day]
        consumed.extend(u.id for u in records)
        total = sum((u.amount for u in records), Decimal(0))
        minimum = sub.minimum_commitment if with_minimum else Decimal(0)
        if total == 0 and minimum == 0:
            continue
        # never prorated; a change log bills the plain sum, a credit when it is negative
        amount = round_half_up(max(total, minimum) if with_minimum else total, precision)
        count = len(records)
        description = f"{sub.name}: {count} usage record{'s' if count != 1 else ''}"
        if with_minimum and minimum > total:
            description += " (minimum commitment)"
        lines.append(RuleLine((2, sub.name, sub.id), InvoiceLine(
            category=LineCategory.USAGE, name=sub.name, description=description,
            period_start=period[0], period_end=period[1], quantity=Decimal(1), unit_price=amount,
            proration_factor=None, amount=amount, taxable=sub.taxable, subscription_id=sub.id,
            usage_record_ids=tuple(u.id for u in records))))
    return lines, consumed


def nri_lines(data: ContractData, nris: list[NonRecurringItem],
              period: tuple[date, date]) -> list[RuleLine]:
    """Rule 4 over the given NRIs: `amount = round(quantity × unit price)`, the invoice's period."""
    precision = data.contract.currency.precision
    lines = []
    for n in nris:
        amount = round_half_up(exact(n.quantity) * exact(n.unit_price), precision)
        lines.append(RuleLine((3, n.effective_date, n.id), InvoiceLine(
            category=LineCategory.NON_RECURRING, name=n.name, description=n.name,
            period_start=period[0], period_end=period[1], quantity=n.quantity,
            unit_price=n.unit_price, proration_factor=None, amount=amount, taxable=n.taxable,
            nri_id=n.id)))
    return lines


def cycle_nris(data: ContractData, cycle: Cycle) -> list[NonRecurringItem]:
    """Rule 4's NRIs: unless OTP Immediately, the Unbilled ones effective on or before `ce`."""
    return nris_through(data, cycle.end)


def nris_through(data: ContractData, last_day: date) -> list[NonRecurringItem]:
    """Unless OTP Immediately, the Unbilled NRIs effective on or before `last_day`."""
    if data.contract.otp_immediately:
        return []
    return [n for n in data.unbilled_nris if n.effective_date <= last_day]
