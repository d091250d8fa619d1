"""Engine drafts → the Dataverse records an invoice writes (binds as in docs/data-model.md).

`ref` arguments are either a GUID or a ready bind value such as a `$batch` Content-ID reference "$1"
or "/w365_billingschedules(<guid>)":

    invoice_record(draft, *, schedule=None, run=None, post_tasks_requested=False, name=None) -> dict
        the deep-insert body for POST `invoices`, lines under `invoice_details`
    invoice_line_record(line) -> dict                       one `invoicedetails` body
    schedule_record(draft, *, invoice, run_date, correlation_id=None) -> dict
        the `w365_billingschedules` body (create or update) for a cycle invoiced by `draft`
    consumption_updates(draft, invoice) -> tuple[SourceUpdate, ...]
        the PATCHes linking every consumed row to the invoice: LCLs → statuscode 2 Archived,
        usage records and NRIs → statuscode 2 Invoiced; each with the ETag read (for If-Match)
    consumed_change_log_ids(draft) / consumed_usage_record_ids(draft) / consumed_nri_ids(draft)
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timezone
from typing import Any

from plugin.engine.draft import InvoiceDraft, InvoiceLine
from plugin.engine.money import factor_decimal

def bind(entity_set: str, ref: str) -> str:
    """A bind value: `ref` as is when it is already one ("$1", "/set(id)"), else "/<set>(<ref>)"."""
    return ref if ref.startswith(("$", "/")) else f"/{entity_set}({ref})"


def _iso(d: date | None) -> str | None:
    return d.isoformat() if d is not None else None


def invoice_name(draft: InvoiceDraft) -> str:
    """The invoice's `name`: "<contract> <start>–<end>", "… one-time <date>", "… change log <date>"."""
    if draft.is_one_time:
        return f"{draft.contract.name} one-time {draft.invoice_date.isoformat()}"
    if draft.is_change_log:
        return f"{draft.contract.name} change log {draft.invoice_date.isoformat()}"
    return f"{draft.contract.name} {draft.period_start.isoformat()}–{draft.period_end.isoformat()}"


def schedule_name(draft: InvoiceDraft) -> str:
    """The schedule's `w365_name`: "<contract name> <start>–<end>"."""
    return f"{draft.contract.name} {draft.period_start.isoformat()}–{draft.period_end.isoformat()}"


def invoice_line_record(line: InvoiceLine) -> dict[str, Any]:
    """One `invoicedetails` body (money as exact Decimals) with its source lookups bound."""
    record: dict[str, Any] = {
        "lineitemnumber": line.number,
        "productdescription": line.name,
        "description": line.description,
        "w365_linecategory": int(line.category),
        "w365_periodstart": line.period_start.isoformat(),
        "w365_periodend": line.period_end.isoformat(),
        "w365_prorationfactor": factor_decimal(line.proration_factor),
        "quantity": line.quantity,
        "priceperunit": line.unit_price,
        "baseamount": line.amount,
        "manualdiscountamount": line.discount,
        "tax": line.tax,
        "extendedamount": line.total,
        "w365_istaxable": line.taxable,
    }
    if line.subscription_id:
        record["w365_Subscription@odata.bind"] = bind("w365_subscriptions", line.subscription_id)
    if line.change_log_id:
        record["w365_LicenseChangeLog@odata.bind"] = bind(
            "w365_licensechangelogs", line.change_log_id
        )
    if line.nri_id:
        record["w365_NonRecurringItem@odata.bind"] = bind("w365_nonrecurringitems", line.nri_id)
    return record


def invoice_record(
    draft: InvoiceDraft,
    *,
    schedule: str | None = None,
    run: str | None = None,
    post_tasks_requested: bool = False,
    name: str | None = None,
) -> dict[str, Any]:
    """The deep-insert body for POST `invoices`: header, binds, `invoice_details` (docs/data-model.md).

    `schedule` / `run`: GUID or bind reference of the billing schedule / invoice run (or None).
    """
    contract, totals = draft.contract, draft.totals
    record: dict[str, Any] = {
        "name": name or invoice_name(draft),
        "w365_BillingContract@odata.bind": bind("w365_billingcontracts", contract.id),
        "w365_cyclestart": draft.period_start.isoformat(),
        "w365_cycleend": draft.period_end.isoformat(),
        "w365_invoicedate": draft.invoice_date.isoformat(),
        "duedate": draft.due_date.isoformat(),
        "w365_category": int(draft.invoice_category),
        "totallineitemamount": totals.amount,
        "discountamount": totals.discount,
        "totaltax": totals.tax,
        "totalamount": totals.total,
        "w365_runtype": 1,
        "w365_posttasksrequested": bool(post_tasks_requested),
        "statecode": 0,
        "statuscode": 1,
        "invoice_details": [invoice_line_record(line) for line in draft.lines],
    }
    if contract.account_id:
        record["customerid_account@odata.bind"] = bind("accounts", contract.account_id)
    if contract.currency.id:
        record["transactioncurrencyid@odata.bind"] = bind(
            "transactioncurrencies", contract.currency.id
        )
    if schedule:
        record["w365_BillingSchedule@odata.bind"] = bind("w365_billingschedules", schedule)
    if run:
        record["w365_InvoiceRun@odata.bind"] = bind("w365_invoiceruns", run)
    return record


def schedule_record(
    draft: InvoiceDraft,
    *,
    invoice: str,
    run_date: datetime,
    correlation_id: str | None = None,
    run_type: int = 1,
) -> dict[str, Any]:
    """The `w365_billingschedules` body: the draft's cycle Invoiced by `invoice` (create/update)."""
    if not draft.writes_schedule:
        raise ValueError("one-time and change-log invoices write no billing schedule")
    when = (
        run_date.astimezone(timezone.utc)
        if run_date.tzinfo
        else run_date.replace(tzinfo=timezone.utc)
    )
    record: dict[str, Any] = {
        "w365_name": schedule_name(draft),
        "w365_BillingContract@odata.bind": bind("w365_billingcontracts", draft.contract.id),
        "w365_cyclestart": draft.period_start.isoformat(),
        "w365_cycleend": draft.period_end.isoformat(),
        "w365_scheduledate": _iso(draft.schedule_date),
        "w365_Invoice@odata.bind": bind("invoices", invoice),
        "w365_rundate": when.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "w365_runtype": run_type,
        "w365_message": None,
        "statecode": 1,
        "statuscode": 3,
    }
    if correlation_id is not None:
        record["w365_correlationid"] = correlation_id
    return record


@dataclass(frozen=True)
class SourceUpdate:
    """A PATCH of a consumed row: `entity_set(id)` with `changes`, `If-Match: etag` when known."""

    entity_set: str
    id: str
    changes: dict[str, Any]
    etag: str | None


def consumed_change_log_ids(draft: InvoiceDraft) -> tuple[str, ...]:
    """LCLs the invoice consumes (→ Archived)."""
    return draft.consumption.change_log_ids


def consumed_usage_record_ids(draft: InvoiceDraft) -> tuple[str, ...]:
    """Usage records the invoice consumes (→ Invoiced)."""
    return draft.consumption.usage_record_ids


def consumed_nri_ids(draft: InvoiceDraft) -> tuple[str, ...]:
    """NRIs the invoice consumes (→ Invoiced)."""
    return draft.consumption.nri_ids


def consumption_updates(draft: InvoiceDraft, invoice: str) -> tuple[SourceUpdate, ...]:
    """Every consumed row's PATCH: statuscode 2 (Archived / Invoiced) and `w365_Invoice` bound."""
    etags = {(s, i): e for s, i, e in draft.source_etags}
    changes = {"statuscode": 2, "w365_Invoice@odata.bind": bind("invoices", invoice)}
    updates = []
    for entity_set, ids in (
        ("w365_licensechangelogs", draft.consumption.change_log_ids),
        ("w365_usagerecords", draft.consumption.usage_record_ids),
        ("w365_nonrecurringitems", draft.consumption.nri_ids),
    ):
        updates.extend(
            SourceUpdate(entity_set, i, dict(changes), etags.get((entity_set, i))) for i in ids
        )
    return tuple(updates)
