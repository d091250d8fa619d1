"""Change-log invoices: what changed in the middle of a cycle, billed up to an as-of date.

The rules are in `docs/billing-rules.md`, "Change-log invoices". With as-of date `A` in the current
cycle `K`: Mid-Cycle lines of the Active LCLs with `S ≤ d ≤ A` (rule 2, each in its own cycle),
usage charged on or before `A` without the minimum commitment, NRIs effective on or before `A`
(unless OTP Immediately); no Full Cycle or Service lines; invoice date `A`; no billing schedule.
"""

from __future__ import annotations

import re
from datetime import date

from .cycles import CHANGE_LOG_PREFIX, Cycle, CycleOption, CycleStatus, cycle_containing, cycle_option
from .draft import Consumption, InvoiceCategory, InvoiceDraft
from .errors import EngineError
from .invoice import plus_days, priced_lines, source_etags, totals_of
from .model import BillingType, Contract, ContractData
from .rules import mid_cycle_lines_through, nri_lines, nris_through, usage_lines_through

_CHANGE_LOG_KEY = re.compile(r"^change-log:(\d{4}-\d{2}-\d{2})$")
EARLIER_CYCLES_MESSAGE = "earlier billing cycles have not been invoiced: generate them first"


class ChangeLogNotAllowed(EngineError):
    """A change log that cannot be made: monthly or Item Based contract, or a bad as-of date."""

    code = "change_log_not_allowed"
    status = 422


class EarlierCyclesNotInvoiced(EngineError):
    """An earlier cycle with Active billable changes is not Invoiced: it must be invoiced first."""

    code = "earlier_cycles_not_invoiced"
    status = 422


def change_log_key(as_of: date) -> str:
    """The key naming a change log in run rows and results: "change-log:2026-02-15"."""
    return f"{CHANGE_LOG_PREFIX}{as_of.isoformat()}"


def parse_change_log_key(key: str | None) -> date | None:
    """The as-of date of a change-log key, or None when `key` is not one."""
    match = _CHANGE_LOG_KEY.match(key) if isinstance(key, str) else None
    if match is None:
        return None
    try:
        return date.fromisoformat(match.group(1))
    except ValueError:
        return None


def offers_change_log(contract: Contract) -> bool:
    """Change logs are for Recurring contracts with cycles of 3 months or more."""
    return not contract.is_item_based and contract.months >= 3


def current_cycle(data: ContractData, as_of: date, today: date) -> Cycle:
    """The cycle containing `as_of`; refuses monthly and Item Based contracts and bad dates (422)."""
    contract = data.contract
    if contract.is_item_based:
        raise ChangeLogNotAllowed(
            "an Item Based contract has no change-log invoices", billing_contract_id=contract.id)
    if not offers_change_log(contract):
        raise ChangeLogNotAllowed(
            "change-log invoices are for quarterly, annual and longer cycles; this contract bills"
            f" every {contract.months} month{'s' if contract.months != 1 else ''}",
            billing_contract_id=contract.id)
    if as_of > today:
        raise ChangeLogNotAllowed(
            f"as_of {as_of.isoformat()} is in the future (today is {today.isoformat()})",
            as_of=as_of.isoformat())
    cycle = cycle_containing(contract, as_of)
    if cycle is None:
        where = "before the contract starts" if as_of < contract.start else "after the contract ends"
        raise ChangeLogNotAllowed(
            f"as_of {as_of.isoformat()} is {where}: no billing cycle contains it",
            as_of=as_of.isoformat())
    return cycle


def uninvoiced_earlier_cycles(data: ContractData, current: Cycle) -> tuple[Cycle, ...]:
    """Cycles before `current` that are not Invoiced and have an Active billable LCL dated in them."""
    billable = {s.id for s in data.subscriptions
                if s.billable and s.billing_type in (BillingType.LICENSE, BillingType.SERVICE)}
    dates = sorted(c.effective_date for c in data.change_logs
                   if c.active and c.subscription_id in billable
                   and data.contract.start <= c.effective_date < current.start)
    found: list[Cycle] = []
    for d in dates:
        cycle = cycle_containing(data.contract, d)
        if cycle is None or (found and found[-1].index == cycle.index):
            continue
        if cycle_option(data, cycle).status != CycleStatus.INVOICED:
            found.append(cycle)
    return tuple(found)


def change_log_option(data: ContractData, as_of: date, current: Cycle) -> CycleOption:
    """The draft's option: key "change-log:<A>", from the start of `K` to `A`, `K`'s status."""
    status = cycle_option(data, current).status
    return CycleOption(change_log_key(as_of), current.start, as_of, status, (), current, None)


def build_change_log(data: ContractData, as_of: date, today: date) -> InvoiceDraft:
    """The change-log invoice as of `as_of` (`today`: the current UTC date, for the future check).

    Raises `ChangeLogNotAllowed` or `EarlierCyclesNotInvoiced` (422). An empty `lines` is
    "nothing to invoice".
    """
    contract = data.contract
    current = current_cycle(data, as_of, today)
    earlier = uninvoiced_earlier_cycles(data, current)
    if earlier:
        raise EarlierCyclesNotInvoiced(
            EARLIER_CYCLES_MESSAGE, cycles=[c.key for c in earlier], as_of=as_of.isoformat())
    period = (current.start, as_of)
    mid, lcl_ids = mid_cycle_lines_through(data, as_of)
    usage, usage_ids = usage_lines_through(data, as_of, period, with_minimum=False)
    nris = nris_through(data, as_of)
    lines = priced_lines(data, mid + usage + nri_lines(data, nris, period))
    consumption = Consumption(
        tuple(sorted(lcl_ids)), tuple(sorted(usage_ids)), tuple(sorted(n.id for n in nris)))
    option = change_log_option(data, as_of, current)
    return InvoiceDraft(
        contract=contract,
        option=option,
        as_of=as_of,
        invoice_category=InvoiceCategory.CHANGE_LOG,
        period_start=current.start,
        period_end=as_of,
        invoice_date=as_of,
        due_date=plus_days(as_of, contract.payment_terms_days, "w365_paymenttermsdays"),
        schedule_date=None,
        lines=lines,
        totals=totals_of(lines, contract.currency.precision),
        consumption=consumption,
        existing_invoices=(),
        warnings=(),
        source_etags=source_etags(data, option, lines, consumption),
    )
