"""Billing cycles (docs/billing-rules.md): anchoring, clipping, the cycle list, the default and keys."""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import date, timedelta
from enum import Enum

from .errors import NoCycleAvailable, UnknownCycle
from .model import BillingSchedule, Contract, ContractData, InvoiceRef, ScheduleStatus

ONE_TIME = "one-time"
CHANGE_LOG_PREFIX = "change-log:"
DEFAULT_CYCLE_RANGE = 2
ONE_DAY = timedelta(days=1)
_KEY = re.compile(r"^\d{4}-\d{2}-\d{2}$")


class CycleStatus(str, Enum):
    """A cycle's status from its billing schedule."""

    UNINVOICED = "uninvoiced"
    INVOICED = "invoiced"
    ERROR = "error"


def add_months(d: date, n: int) -> date:
    """The same day of month as `d`, `n` months later, clamped to that month's last day."""
    y, m = divmod(d.year * 12 + d.month - 1 + n, 12)
    return date(y, m + 1, min(d.day, calendar.monthrange(y, m + 1)[1]))


def days(a: date, b: date) -> int:
    """`days([a, b]) = b − a + 1` (0 for an empty interval)."""
    return max((b - a).days + 1, 0)


@dataclass(frozen=True)
class Cycle:
    """Cycle `index` of a contract: full `[full_start, full_end]`, effective `[start, end]`."""

    index: int
    start: date
    end: date
    full_start: date
    full_end: date

    @property
    def key(self) -> str:
        """The cycle key: its start date ("2026-01-31")."""
        return self.start.isoformat()

    @property
    def is_clipped(self) -> bool:
        """True when the end date cuts this cycle short."""
        return self.end != self.full_end


def full_cycle(start: date, months: int, index: int) -> tuple[date, date]:
    """Full cycle i = `[add_months(S, i·M), add_months(S, (i+1)·M) − 1 day]`, never chained."""
    return add_months(start, index * months), add_months(start, (index + 1) * months) - ONE_DAY


def cycle_at(contract: Contract, index: int) -> Cycle | None:
    """Cycle `index` of the contract, clipped to its end date; None if it does not exist."""
    if index < 0 or contract.is_item_based:
        return None
    try:
        fs, fe = full_cycle(contract.start, contract.months, index)
    except (ValueError, OverflowError):  # past year 9999: not a calendar date
        return None
    if contract.end is not None and fs > contract.end:
        return None
    end = fe if contract.end is None else min(fe, contract.end)
    return Cycle(index, fs, end, fs, fe)


def cycle_index(contract: Contract, d: date) -> int:
    """Index of the full (unclipped) cycle containing `d`; −1 before the contract start."""
    start, months = contract.start, contract.months
    if d < start:
        return -1
    i = ((d.year - start.year) * 12 + d.month - start.month) // months
    while i > 0 and add_months(start, i * months) > d:
        i -= 1
    while _starts_by(start, (i + 1) * months, d):
        i += 1
    return i


def _starts_by(start: date, months: int, d: date) -> bool:
    try:
        return add_months(start, months) <= d
    except (ValueError, OverflowError):  # past year 9999
        return False


def cycle_containing(contract: Contract, d: date) -> Cycle | None:
    """The existing cycle containing `d`, or None."""
    cycle = cycle_at(contract, cycle_index(contract, d))
    return cycle if cycle is not None and cycle.start <= d <= cycle.end else None


def cycle_for_key(contract: Contract, key: str) -> Cycle:
    """The existing cycle whose key is `key`; `UnknownCycle` for anything else."""
    if not isinstance(key, str) or not _KEY.match(key):
        raise UnknownCycle(
            f"unknown billing cycle {key!r}: expected a cycle start date (YYYY-MM-DD)"
            f" or {ONE_TIME!r}",
            cycle=key,
        )
    try:
        d = date.fromisoformat(key)
    except ValueError:
        raise UnknownCycle(f"unknown billing cycle {key!r}: not a date", cycle=key) from None
    if contract.is_item_based:
        raise UnknownCycle(
            f"unknown billing cycle {key!r}: an Item Based contract has only {ONE_TIME!r}",
            cycle=key,
        )
    cycle = cycle_at(contract, cycle_index(contract, d))
    if cycle is None or cycle.start != d:
        raise UnknownCycle(
            f"unknown billing cycle {key!r}: no cycle of this contract starts on that date",
            cycle=key,
        )
    return cycle


@dataclass(frozen=True)
class CycleOption:
    """A cycle-list entry: a cycle (or the one-time invoice), its status and its invoices."""

    key: str
    start: date
    end: date
    status: CycleStatus
    invoices: tuple[InvoiceRef, ...] = ()
    cycle: Cycle | None = None  # None for "one-time"
    schedule: BillingSchedule | None = None

    @property
    def is_one_time(self) -> bool:
        """True for the one-time (NRI) invoice."""
        return self.cycle is None

    @property
    def is_change_log(self) -> bool:
        """True for a change log's option (key "change-log:<as-of date>")."""
        return self.key.startswith(CHANGE_LOG_PREFIX)

    @property
    def has_schedule(self) -> bool:
        """Only cycles have billing schedules (not one-time invoices, not change logs)."""
        return not (self.is_one_time or self.is_change_log)


@dataclass(frozen=True)
class CycleListing:
    """What the user can pick (docs/interfaces.md `cycles`): the options and the default key."""

    options: tuple[CycleOption, ...]
    default: str | None

    def as_json(self) -> dict:
        """`{"cycles": [{key, start, end, status, invoices: [{id, number}]}], "default": ...}`."""
        return {
            "cycles": [
                {
                    "key": o.key,
                    "start": o.start.isoformat(),
                    "end": o.end.isoformat(),
                    "status": o.status.value,
                    "invoices": [{"id": i.id, "number": i.number} for i in o.invoices],
                }
                for o in self.options
            ],
            "default": self.default,
        }


def cycle_option(data: ContractData, cycle: Cycle) -> CycleOption:
    """A cycle with its status (schedule Invoiced → invoiced, Error → error, else uninvoiced)."""
    schedule = data.schedules_by_key.get(cycle.key)
    status = CycleStatus.UNINVOICED
    if schedule is not None and schedule.status == ScheduleStatus.INVOICED:
        status = CycleStatus.INVOICED
    elif schedule is not None and schedule.status == ScheduleStatus.ERROR:
        status = CycleStatus.ERROR
    invoices = data.cycle_invoices.get(cycle.key, ())
    if (
        schedule is not None
        and schedule.invoice_id
        and all(i.id != schedule.invoice_id for i in invoices)
    ):
        invoices = invoices + (InvoiceRef(schedule.invoice_id, None),)
    return CycleOption(cycle.key, cycle.start, cycle.end, status, invoices, cycle, schedule)


def one_time_option(as_of: date) -> CycleOption:
    """The one-time entry: key "one-time", start = end = as_of, uninvoiced."""
    return CycleOption(ONE_TIME, as_of, as_of, CycleStatus.UNINVOICED)


def offers_one_time(data: ContractData) -> bool:
    """Whether "one-time" is a valid key: Item Based, or Recurring with OTP Immediately."""
    return data.contract.is_item_based or data.contract.otp_immediately


def list_cycles(
    data: ContractData, as_of: date, cycle_range: int = DEFAULT_CYCLE_RANGE
) -> CycleListing:
    """The cycle list (docs/billing-rules.md): existing cycles 0 … k+R, then "one-time" if offered."""
    contract = data.contract
    if contract.is_item_based:
        return CycleListing((one_time_option(as_of),), ONE_TIME)
    last = cycle_index(contract, as_of) + cycle_range
    options = []
    for i in range(0, last + 1):
        cycle = cycle_at(contract, i)
        if cycle is None:
            break
        options.append(cycle_option(data, cycle))
    default = next((o.key for o in options if o.status != CycleStatus.INVOICED), None)
    if contract.otp_immediately and data.unbilled_nris:
        options.append(one_time_option(as_of))
    return CycleListing(tuple(options), default)


def resolve_cycle(
    data: ContractData, key: str | None, as_of: date, cycle_range: int = DEFAULT_CYCLE_RANGE
) -> CycleOption:
    """The option for `key` (None: the default). Any existing cycle is accepted, listed or not.

    Raises `UnknownCycle` for a key that names nothing, `NoCycleAvailable` when `key` is None and
    there is no default.
    """
    if key is None:
        listing = list_cycles(data, as_of, cycle_range)
        if listing.default is None:
            raise NoCycleAvailable(
                "no billing cycle to invoice by default: no listed cycle is uninvoiced;"
                " pick a cycle explicitly"
            )
        return next(o for o in listing.options if o.key == listing.default)
    if key == ONE_TIME:
        if not offers_one_time(data):
            raise UnknownCycle(
                f"unknown billing cycle {key!r}: only Item Based contracts and contracts"
                " with Invoice OTP Immediately have one-time invoices",
                cycle=key,
            )
        return one_time_option(as_of)
    return cycle_option(data, cycle_for_key(data.contract, key))
