"""The engine's input data: frozen dataclasses mirroring the docs/data-model.md rows the billing rules read.

Build them with `plugin.engine.mapping.contract_data_from_rows` (from Web API rows) or directly
(tests). Money and quantities are `Decimal`, dates `datetime.date`; ids are GUID strings; `etag`
is the row's `@odata.etag` when it was read from Dataverse (None otherwise).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from enum import IntEnum
from functools import cached_property


class ContractType(IntEnum):
    """`w365_type`."""

    RECURRING = 1
    ITEM_BASED = 2


class BillingPolicy(IntEnum):
    """`w365_billingpolicy`."""

    ADVANCE = 1
    ARREARS = 2


class ProrateUnit(IntEnum):
    """`w365_prorateunit`."""

    DAYS = 1
    MONTHS = 2


class BillingType(IntEnum):
    """`w365_subscriptions.w365_billingtype`."""

    LICENSE = 1
    SERVICE = 2
    USAGE = 3


class ScheduleStatus(IntEnum):
    """`w365_billingschedules.statuscode`."""

    PENDING = 1
    ERROR = 2
    INVOICED = 3


LABELS: dict[type[IntEnum], dict[int, str]] = {
    ContractType: {1: "Recurring", 2: "Item Based"},
    BillingPolicy: {1: "Advance", 2: "Arrears"},
    ProrateUnit: {1: "Days", 2: "Months"},
    BillingType: {1: "License", 2: "Service", 3: "Usage"},
}


def label(choice: IntEnum) -> str:
    """The docs/data-model.md label of a choice value ("Item Based")."""
    return LABELS[type(choice)][int(choice)]


@dataclass(frozen=True)
class Currency:
    """A `transactioncurrencies` row: only what invoices need."""

    id: str | None
    code: str | None = None
    precision: int = 2
    symbol: str | None = None
    name: str | None = None


@dataclass(frozen=True)
class Contract:
    """A `w365_billingcontracts` row, nulls already read as their docs/billing-rules.md defaults."""

    id: str
    name: str
    account_id: str | None
    type: ContractType
    months: int  # w365_billingfrequency: months per cycle (M)
    policy: BillingPolicy
    prorate_unit: ProrateUnit
    start: date  # S
    end: date | None  # E (inclusive), optional
    currency: Currency
    otp_immediately: bool = False
    offset_days: int = 1
    payment_terms_days: int = 30
    discount_percent: Decimal = Decimal(0)
    tax_percent: Decimal = Decimal(0)
    apply_refunds: bool = False
    autosend: bool = False
    autosync: bool = False
    autocharge: bool = False
    primary_contact_id: str | None = None
    statecode: int = 0
    account_name: str | None = None
    etag: str | None = None

    @property
    def is_item_based(self) -> bool:
        """Item Based contracts have no cycles, only the one-time invoice."""
        return self.type == ContractType.ITEM_BASED


@dataclass(frozen=True)
class Subscription:
    """A `w365_subscriptions` row."""

    id: str
    name: str
    billing_type: BillingType
    price: Decimal  # monthly unit selling price
    billable: bool = True
    taxable: bool = False
    minimum_commitment: Decimal = Decimal(0)
    statecode: int = 0
    etag: str | None = None

    @property
    def is_recurring(self) -> bool:
        """License and Service subscriptions bill by quantity (rules 1 and 2)."""
        return self.billing_type in (BillingType.LICENSE, BillingType.SERVICE)


@dataclass(frozen=True)
class ChangeLog:
    """A `w365_licensechangelogs` row (LCL): a signed quantity change of a subscription."""

    id: str
    subscription_id: str
    effective_date: date
    quantity_change: Decimal
    price: Decimal | None = None  # w365_priceperunit of the change; None: the subscription's
    active: bool = True  # statuscode 1 Active (not yet invoiced); False: 2 Archived
    change_type: int = 2
    name: str | None = None
    etag: str | None = None


@dataclass(frozen=True)
class UsageRecord:
    """A `w365_usagerecords` row."""

    id: str
    subscription_id: str
    charge_date: date
    amount: Decimal
    unbilled: bool = True  # statuscode 1 Unbilled; False: 2 Invoiced
    name: str | None = None
    etag: str | None = None


@dataclass(frozen=True)
class NonRecurringItem:
    """A `w365_nonrecurringitems` row (one-time purchase)."""

    id: str
    name: str
    quantity: Decimal
    unit_price: Decimal
    effective_date: date
    taxable: bool = False
    unbilled: bool = True  # statuscode 1 Unbilled; False: 2 Invoiced
    etag: str | None = None


@dataclass(frozen=True)
class BillingSchedule:
    """A `w365_billingschedules` row: the status of one cycle."""

    id: str
    cycle_start: date
    cycle_end: date | None
    status: ScheduleStatus
    invoice_id: str | None = None  # Resulting Invoice (the newest)
    message: str | None = None
    etag: str | None = None


@dataclass(frozen=True)
class InvoiceRef:
    """An existing invoice of a cycle: id and number (number None if unknown)."""

    id: str
    number: str | None = None


@dataclass(frozen=True)
class ContractData:
    """Everything the rules read for one contract (docs/billing-rules.md): the contract and its rows.

    `cycle_invoices` maps a cycle key ("2026-01-01") to its existing cycle invoices, oldest first.
    """

    contract: Contract
    subscriptions: tuple[Subscription, ...] = ()
    change_logs: tuple[ChangeLog, ...] = ()
    usage_records: tuple[UsageRecord, ...] = ()
    nris: tuple[NonRecurringItem, ...] = ()
    schedules: tuple[BillingSchedule, ...] = ()
    cycle_invoices: dict[str, tuple[InvoiceRef, ...]] = field(default_factory=dict)

    @cached_property
    def subscriptions_by_id(self) -> dict[str, Subscription]:
        """Subscriptions by id."""
        return {s.id: s for s in self.subscriptions}

    @cached_property
    def change_logs_by_subscription(self) -> dict[str, tuple[ChangeLog, ...]]:
        """LCLs per subscription id, by effective date then id."""
        return _group(
            self.change_logs, lambda c: c.subscription_id, lambda c: (c.effective_date, c.id)
        )

    @cached_property
    def usage_by_subscription(self) -> dict[str, tuple[UsageRecord, ...]]:
        """Usage records per subscription id, by charge date then id."""
        return _group(
            self.usage_records, lambda u: u.subscription_id, lambda u: (u.charge_date, u.id)
        )

    @cached_property
    def schedules_by_key(self) -> dict[str, BillingSchedule]:
        """Billing schedules by cycle key (their `w365_cyclestart`)."""
        return {s.cycle_start.isoformat(): s for s in self.schedules}

    @property
    def unbilled_nris(self) -> tuple[NonRecurringItem, ...]:
        """The Unbilled NRIs, by effective date then id."""
        return tuple(
            sorted((n for n in self.nris if n.unbilled), key=lambda n: (n.effective_date, n.id))
        )


def _group(items, key, order) -> dict:
    groups: dict = defaultdict(list)
    for item in items:
        groups[key(item)].append(item)
    return {k: tuple(sorted(v, key=order)) for k, v in groups.items()}
