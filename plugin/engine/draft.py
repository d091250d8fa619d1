"""The engine's output: an `InvoiceDraft` (the invoice that would be created) and its lines."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from enum import IntEnum
from fractions import Fraction

from .cycles import CycleOption
from .model import Contract, InvoiceRef

NOTHING_TO_INVOICE = "nothing to invoice"


class LineCategory(IntEnum):
    """`invoicedetails.w365_linecategory` (docs/data-model.md), also the preview's five groups in order."""

    FULL_CYCLE = 1
    MID_CYCLE_CHANGE = 2
    USAGE = 3
    NON_RECURRING = 4
    SERVICE = 5

    @property
    def label(self) -> str:
        """ "Full Cycle", "Mid-Cycle Change", "Usage", "Non-Recurring", "Service"."""
        return _CATEGORY_LABELS[self]


_CATEGORY_LABELS = {
    LineCategory.FULL_CYCLE: "Full Cycle",
    LineCategory.MID_CYCLE_CHANGE: "Mid-Cycle Change",
    LineCategory.USAGE: "Usage",
    LineCategory.NON_RECURRING: "Non-Recurring",
    LineCategory.SERVICE: "Service",
}


class InvoiceCategory(IntEnum):
    """`invoices.w365_category`."""

    FULL_CYCLE = 1
    ONE_TIME = 2
    CHANGE_LOG = 3

    @property
    def label(self) -> str:
        """ "Full Cycle", "One-Time", "Change Log"."""
        return {1: "Full Cycle", 2: "One-Time", 3: "Change Log"}[int(self)]


@dataclass(frozen=True)
class InvoiceLine:
    """One invoice line; money values are rounded to the currency precision, exactly once each.

    `unit_price` is exact (not rounded: display rounds it); `proration_factor` is None when the
    line is not prorated. Source ids name the rows the line comes from. The rules make lines with
    `number` 0 and no discount or tax; `invoice.priced_lines` numbers them and applies discount and tax (docs/billing-rules.md).
    """

    category: LineCategory
    name: str  # productdescription
    description: str
    period_start: date
    period_end: date
    quantity: Decimal
    unit_price: Decimal
    proration_factor: Fraction | None
    amount: Decimal  # baseamount
    taxable: bool
    subscription_id: str | None = None
    change_log_id: str | None = None
    nri_id: str | None = None
    usage_record_ids: tuple[str, ...] = ()
    number: int = 0  # lineitemnumber, 1-based in presentation order
    discount: Decimal = Decimal(0)  # manualdiscountamount
    tax: Decimal = Decimal(0)
    total: Decimal = Decimal(0)  # extendedamount = amount − discount + tax


@dataclass(frozen=True)
class Totals:
    """Sums of the rounded line values (docs/billing-rules.md)."""

    amount: Decimal  # totallineitemamount
    discount: Decimal  # discountamount
    tax: Decimal  # totaltax
    total: Decimal  # totalamount


@dataclass(frozen=True)
class Consumption:
    """What creating the invoice consumes: LCLs → Archived, usage records and NRIs → Invoiced."""

    change_log_ids: tuple[str, ...] = ()
    usage_record_ids: tuple[str, ...] = ()
    nri_ids: tuple[str, ...] = ()

    @property
    def is_empty(self) -> bool:
        """True when nothing is consumed."""
        return not (self.change_log_ids or self.usage_record_ids or self.nri_ids)


@dataclass(frozen=True)
class InvoiceDraft:
    """The invoice a (contract, cycle) would produce, with everything needed to write it.

    `lines` empty means "nothing to invoice" (docs/billing-rules.md): no invoice, no schedule touched.
    `existing_invoices` are the cycle's invoices when it was already Invoiced (re-invoicing, docs/billing-rules.md).
    `source_etags`: (entity set, id, @odata.etag) of the rows the invoice depends on, where known.
    """

    contract: Contract
    option: CycleOption
    as_of: date
    invoice_category: InvoiceCategory
    period_start: date
    period_end: date
    invoice_date: date
    due_date: date
    schedule_date: date | None  # None for one-time and change-log invoices (they write no schedule)
    lines: tuple[InvoiceLine, ...]
    totals: Totals
    consumption: Consumption
    existing_invoices: tuple[InvoiceRef, ...]
    warnings: tuple[str, ...]
    source_etags: tuple[tuple[str, str, str], ...] = ()

    @property
    def cycle_key(self) -> str:
        """The cycle key ("2026-01-01", "one-time" or "change-log:2026-02-15")."""
        return self.option.key

    @property
    def is_one_time(self) -> bool:
        """True for a one-time (NRI) invoice."""
        return self.option.is_one_time

    @property
    def is_change_log(self) -> bool:
        """True for a change-log invoice (mid-cycle changes up to `as_of`)."""
        return self.invoice_category == InvoiceCategory.CHANGE_LOG

    @property
    def writes_schedule(self) -> bool:
        """Only a cycle invoice creates or updates its cycle's billing schedule."""
        return self.invoice_category == InvoiceCategory.FULL_CYCLE

    @property
    def nothing_to_invoice(self) -> bool:
        """True when the cycle has no lines: the row is skipped with `NOTHING_TO_INVOICE`."""
        return not self.lines

    @property
    def already_invoiced(self) -> bool:
        """True when the cycle was Invoiced when read: creating makes an additional invoice."""
        return self.writes_schedule and self.option.status.value == "invoiced"

    @property
    def precision(self) -> int:
        """The currency precision the money values are rounded to."""
        return self.contract.currency.precision
