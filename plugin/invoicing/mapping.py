"""Dataverse rows (docs/data-model.md, as READ from the Web API) → engine data, in one place.

Rows are dicts as the connector returns them: lookups as `_x_value`, DateOnly as "YYYY-MM-DD",
Money/Decimal as `Decimal` (int accepted, float refused), Choices as ints, `@odata.etag` kept as
`etag`; nulls read as the docs/billing-rules.md defaults:

    contract_data_from_rows(contract_row, currency_row, subscriptions, change_logs,
                            usage_records, nris, schedules, invoices_by_id) -> ContractData

`currency_row` may be None (precision 2). `invoices_by_id` is a mapping invoice id → invoice row (or
any iterable of invoice rows) of the contract; it gives the numbers of the existing invoices of each
cycle (rows with `w365_category` 2 One-Time or 3 Change Log are not cycle invoices). Rows of other
contracts (by `_w365_billingcontract_value`) are ignored, so set-based reads can be passed whole.

The records an invoice writes (engine → rows) are in `plugin.invoicing.records`, re-exported here.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from plugin.engine.errors import InvalidRecord
from plugin.engine.model import (
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

Row = Mapping[str, Any]

# ---------------------------------------------------------------------------------------------
# reading helpers


def _get(row: Row, column: str, *, required: bool = False, what: str = "row") -> Any:
    value = row.get(column)
    if required and value in (None, ""):
        raise InvalidRecord(f"{what} has no {column}", column=column)
    return value


def lookup(row: Row, column: str) -> str | None:
    """The GUID of lookup `column` as read (`_<column>_value`), or None."""
    value = row.get(f"_{column}_value")
    return str(value) if value else None


def formatted(row: Row, column: str) -> str | None:
    """The formatted value annotation of `column` (e.g. a lookup's primary name), if requested."""
    return row.get(f"{column}@OData.Community.Display.V1.FormattedValue")


def read_date(value: Any, column: str) -> date | None:
    """A DateOnly ("YYYY-MM-DD"); a DateTime string is cut to its date part."""
    if value in (None, ""):
        return None
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    if isinstance(value, str) and re.match(r"^\d{4}-\d{2}-\d{2}", value):
        try:
            return date.fromisoformat(value[:10])
        except ValueError:
            pass
    raise InvalidRecord(f"{column} is not a date: {value!r}", column=column)


def read_decimal(value: Any, column: str, default: Decimal | None = Decimal(0)) -> Decimal | None:
    """A Money/Decimal column as `Decimal` (null → default); floats are refused."""
    if value is None:
        return default
    if isinstance(value, bool) or isinstance(value, float):
        raise InvalidRecord(
            f"{column} must be parsed as Decimal, not {type(value).__name__}", column=column
        )
    try:
        result = Decimal(value) if isinstance(value, (int, str)) else value
    except InvalidOperation:
        raise InvalidRecord(f"{column} is not a number: {value!r}", column=column) from None
    if not isinstance(result, Decimal) or not result.is_finite():
        raise InvalidRecord(f"{column} is not a number: {value!r}", column=column)
    return result


def read_int(value: Any, column: str, default: int) -> int:
    """An Integer column (null → default)."""
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, (int, Decimal)) or int(value) != value:
        raise InvalidRecord(f"{column} is not an integer: {value!r}", column=column)
    return int(value)


def read_choice(value: Any, column: str, choice, default=None):
    """A Choice column as its IntEnum (null → default; unknown value → InvalidRecord)."""
    if value is None and default is not None:
        return default
    try:
        return choice(read_int(value, column, -1))
    except ValueError:
        raise InvalidRecord(f"{column} has an unknown value {value!r}", column=column) from None


def read_bool(value: Any) -> bool:
    """A Boolean column (null → false)."""
    return bool(value)


# ---------------------------------------------------------------------------------------------
# rows → engine data


def currency_from_row(row: Row | None) -> Currency:
    """A `transactioncurrencies` row (None → an unknown currency of precision 2)."""
    if row is None:
        return Currency(id=None)
    precision = read_int(row.get("currencyprecision"), "currencyprecision", 2)
    if not 0 <= precision <= 10:
        raise InvalidRecord(
            f"currencyprecision out of range: {precision}", column="currencyprecision"
        )
    return Currency(
        id=row.get("transactioncurrencyid"),
        code=row.get("isocurrencycode"),
        precision=precision,
        symbol=row.get("currencysymbol"),
        name=row.get("currencyname"),
    )


def contract_from_row(row: Row, currency_row: Row | None = None) -> Contract:
    """A `w365_billingcontracts` row (and its currency) as a `Contract`."""
    what = "billing contract"
    contract_type = read_choice(row.get("w365_type"), "w365_type", ContractType, ContractType.RECURRING)
    frequency = row.get("w365_billingfrequency")
    if contract_type is ContractType.ITEM_BASED and frequency is None:
        frequency = 1  # Item Based contracts have no cycles: their frequency is never used, and often null
    months = read_int(
        _get({"w365_billingfrequency": frequency}, "w365_billingfrequency", required=True, what=what),
        "w365_billingfrequency", 1,
    )
    if months <= 0:
        raise InvalidRecord(
            f"w365_billingfrequency must be positive, got {months}", column="w365_billingfrequency"
        )
    currency = currency_from_row(currency_row)
    if currency.id is None:
        currency = Currency(id=lookup(row, "transactioncurrencyid"))
    return Contract(
        id=str(_get(row, "w365_billingcontractid", required=True, what=what)),
        name=row.get("w365_name") or "",
        account_id=lookup(row, "w365_customer"),
        account_name=formatted(row, "_w365_customer_value"),
        type=contract_type,
        months=months,
        policy=read_choice(
            row.get("w365_billingpolicy"),
            "w365_billingpolicy",
            BillingPolicy,
            BillingPolicy.ADVANCE,
        ),
        prorate_unit=read_choice(
            row.get("w365_prorateunit"), "w365_prorateunit", ProrateUnit, ProrateUnit.DAYS
        ),
        start=read_date(_get(row, "w365_startdate", required=True, what=what), "w365_startdate"),
        end=read_date(row.get("w365_enddate"), "w365_enddate"),
        currency=currency,
        otp_immediately=read_bool(row.get("w365_invoiceotpimmediately")),
        offset_days=read_int(row.get("w365_invoiceoffsetdays"), "w365_invoiceoffsetdays", 1),
        payment_terms_days=read_int(row.get("w365_paymenttermsdays"), "w365_paymenttermsdays", 30),
        discount_percent=read_decimal(row.get("w365_discountpercent"), "w365_discountpercent"),
        tax_percent=read_decimal(row.get("w365_taxpercent"), "w365_taxpercent"),
        apply_refunds=read_bool(row.get("w365_applyrefunds")),
        autosend=read_bool(row.get("w365_autosend")),
        autosync=read_bool(row.get("w365_autosync")),
        autocharge=read_bool(row.get("w365_autocharge")),
        primary_contact_id=lookup(row, "w365_primarybillingcontact"),
        statecode=read_int(row.get("statecode"), "statecode", 0),
        etag=row.get("@odata.etag"),
    )


def subscription_from_row(row: Row) -> Subscription:
    """A `w365_subscriptions` row."""
    return Subscription(
        id=str(_get(row, "w365_subscriptionid", required=True, what="subscription")),
        name=row.get("w365_name") or "",
        billing_type=read_choice(row.get("w365_billingtype"), "w365_billingtype", BillingType),
        price=read_decimal(row.get("w365_priceperunit"), "w365_priceperunit"),
        billable=read_bool(row.get("w365_billable")),
        taxable=read_bool(row.get("w365_istaxable")),
        minimum_commitment=read_decimal(
            row.get("w365_minimumcommitment"), "w365_minimumcommitment"
        ),
        statecode=read_int(row.get("statecode"), "statecode", 0),
        etag=row.get("@odata.etag"),
    )


def change_log_from_row(row: Row) -> ChangeLog:
    """A `w365_licensechangelogs` row (statuscode 1 Active, 2 Archived)."""
    what = "license change log"
    return ChangeLog(
        id=str(_get(row, "w365_licensechangelogid", required=True, what=what)),
        subscription_id=lookup(row, "w365_subscription") or "",
        effective_date=read_date(
            _get(row, "w365_effectivedate", required=True, what=what), "w365_effectivedate"
        ),
        quantity_change=read_decimal(row.get("w365_quantitychange"), "w365_quantitychange"),
        price=read_decimal(row.get("w365_priceperunit"), "w365_priceperunit", default=None),
        active=read_int(row.get("statuscode"), "statuscode", 1) == 1,
        change_type=read_int(row.get("w365_changetype"), "w365_changetype", 2),
        name=row.get("w365_name"),
        etag=row.get("@odata.etag"),
    )


def usage_record_from_row(row: Row) -> UsageRecord:
    """A `w365_usagerecords` row (statuscode 1 Unbilled, 2 Invoiced)."""
    what = "usage record"
    return UsageRecord(
        id=str(_get(row, "w365_usagerecordid", required=True, what=what)),
        subscription_id=lookup(row, "w365_subscription") or "",
        charge_date=read_date(
            _get(row, "w365_chargedate", required=True, what=what), "w365_chargedate"
        ),
        amount=read_decimal(row.get("w365_amount"), "w365_amount"),
        unbilled=read_int(row.get("statuscode"), "statuscode", 1) == 1,
        name=row.get("w365_name"),
        etag=row.get("@odata.etag"),
    )


def nri_from_row(row: Row) -> NonRecurringItem:
    """A `w365_nonrecurringitems` row (statuscode 1 Unbilled, 2 Invoiced)."""
    what = "non-recurring item"
    return NonRecurringItem(
        id=str(_get(row, "w365_nonrecurringitemid", required=True, what=what)),
        name=row.get("w365_name") or "",
        quantity=read_decimal(row.get("w365_quantity"), "w365_quantity"),
        unit_price=read_decimal(row.get("w365_unitprice"), "w365_unitprice"),
        effective_date=read_date(
            _get(row, "w365_effectivedate", required=True, what=what), "w365_effectivedate"
        ),
        taxable=read_bool(row.get("w365_istaxable")),
        unbilled=read_int(row.get("statuscode"), "statuscode", 1) == 1,
        etag=row.get("@odata.etag"),
    )


def schedule_from_row(row: Row) -> BillingSchedule:
    """A `w365_billingschedules` row (statuscode 1 Pending, 2 Error, 3 Invoiced)."""
    what = "billing schedule"
    status = read_int(row.get("statuscode"), "statuscode", 1)
    if status not in (1, 2, 3):
        status = 3 if read_int(row.get("statecode"), "statecode", 0) == 1 else 1
    return BillingSchedule(
        id=str(_get(row, "w365_billingscheduleid", required=True, what=what)),
        cycle_start=read_date(
            _get(row, "w365_cyclestart", required=True, what=what), "w365_cyclestart"
        ),
        cycle_end=read_date(row.get("w365_cycleend"), "w365_cycleend"),
        status=ScheduleStatus(status),
        invoice_id=lookup(row, "w365_invoice"),
        message=row.get("w365_message"),
        etag=row.get("@odata.etag"),
    )


def _belongs(row: Row, contract_id: str) -> bool:
    owner = lookup(row, "w365_billingcontract")
    return owner is None or owner.lower() == contract_id.lower()


def _cycle_invoices(rows: Iterable[Row], contract_id: str) -> dict[str, tuple[InvoiceRef, ...]]:
    """Existing cycle invoices (not 2 One-Time nor 3 Change Log) per cycle key, oldest first."""
    per_cycle: dict[str, list[tuple[str, str, InvoiceRef]]] = {}
    for row in rows:
        if (
            not _belongs(row, contract_id)
            or row.get("w365_category") in (2, 3)
            or not row.get("invoiceid")
        ):
            continue
        start = read_date(row.get("w365_cyclestart"), "w365_cyclestart")
        if start is None:
            continue
        ref = InvoiceRef(str(row["invoiceid"]), row.get("invoicenumber"))
        per_cycle.setdefault(start.isoformat(), []).append(
            (str(row.get("createdon") or ""), ref.number or "", ref)
        )
    return {k: tuple(r for *_, r in sorted(v, key=lambda t: t[:2])) for k, v in per_cycle.items()}


def contract_data_from_rows(
    contract_row: Row,
    currency_row: Row | None = None,
    subscriptions: Iterable[Row] = (),
    change_logs: Iterable[Row] = (),
    usage_records: Iterable[Row] = (),
    nris: Iterable[Row] = (),
    schedules: Iterable[Row] = (),
    invoices_by_id: Mapping[str, Row] | Iterable[Row] = (),
) -> ContractData:
    """Everything the engine needs for one contract, from its Web API rows (see the module doc)."""
    contract = contract_from_row(contract_row, currency_row)
    cid = contract.id
    invoice_rows = (
        invoices_by_id.values() if isinstance(invoices_by_id, Mapping) else invoices_by_id
    )
    return ContractData(
        contract=contract,
        subscriptions=tuple(subscription_from_row(r) for r in subscriptions if _belongs(r, cid)),
        change_logs=tuple(change_log_from_row(r) for r in change_logs if _belongs(r, cid)),
        usage_records=tuple(usage_record_from_row(r) for r in usage_records if _belongs(r, cid)),
        nris=tuple(nri_from_row(r) for r in nris if _belongs(r, cid)),
        schedules=tuple(schedule_from_row(r) for r in schedules if _belongs(r, cid)),
        cycle_invoices=_cycle_invoices(invoice_rows, cid),
    )


from plugin.invoicing.records import (  # noqa: E402,F401  (the writing half, re-exported)
    SourceUpdate,
    bind,
    consumed_change_log_ids,
    consumed_nri_ids,
    consumed_usage_record_ids,
    consumption_updates,
    invoice_line_record,
    invoice_name,
    invoice_record,
    schedule_name,
    schedule_record,
)
