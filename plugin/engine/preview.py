"""The preview (docs/interfaces.md `POST /invoices/preview`) as plain JSON-able data, and its `preview_hash`.

`preview_json(draft)` returns:

    {"billing_contract_id", "cycle": {key, start, end, status},
     "kind": "cycle" | "change_log", "as_of" (a change log's as-of date, else null),
     "invoice_category": "Full Cycle" | "One-Time" | "Change Log",
     "period_start", "period_end", "invoice_date", "due_date", "schedule_date" (null for one-time and change log),
     "currency": {id, code, precision},
     "lines": [{number, category, category_value, name, description, period_start, period_end,
                quantity, unit_price, proration_factor, amount, discount, tax, total, taxable,
                subscription_id, change_log_id, non_recurring_item_id, usage_record_ids}],
     "categories": [{category, category_value, line_count, amount, discount, tax, total}],
                   (the five categories, always, in LineCategory order)
     "totals": {amount, discount, tax, total},
     "consumed": {change_log_ids, usage_record_ids, non_recurring_item_ids},
     "existing_invoices": [{id, number}], "warnings": [...],
     "nothing_to_invoice": bool, "preview_hash": "<sha256 hex>"}

Money is a string at the currency precision ("475.20"), unit prices included (display only);
quantities are plain decimal strings ("10", "-4"); `proration_factor` is rounded half-up to 10
places, "1" when not prorated.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from .draft import InvoiceDraft, InvoiceLine, LineCategory
from .money import factor_str, money_str, plain


def _line_json(line: InvoiceLine, places: int) -> dict[str, Any]:
    return {
        "number": line.number,
        "category": line.category.label,
        "category_value": int(line.category),
        "name": line.name,
        "description": line.description,
        "period_start": line.period_start.isoformat(),
        "period_end": line.period_end.isoformat(),
        "quantity": plain(line.quantity),
        "unit_price": money_str(line.unit_price, places),
        "proration_factor": factor_str(line.proration_factor),
        "amount": money_str(line.amount, places),
        "discount": money_str(line.discount, places),
        "tax": money_str(line.tax, places),
        "total": money_str(line.total, places),
        "taxable": line.taxable,
        "subscription_id": line.subscription_id,
        "change_log_id": line.change_log_id,
        "non_recurring_item_id": line.nri_id,
        "usage_record_ids": list(line.usage_record_ids),
    }


def _categories_json(draft: InvoiceDraft, places: int) -> list[dict[str, Any]]:
    groups = []
    for category in LineCategory:
        lines = [l for l in draft.lines if l.category == category]
        groups.append(
            {
                "category": category.label,
                "category_value": int(category),
                "line_count": len(lines),
                "amount": money_str(sum((l.amount for l in lines), 0), places),
                "discount": money_str(sum((l.discount for l in lines), 0), places),
                "tax": money_str(sum((l.tax for l in lines), 0), places),
                "total": money_str(sum((l.total for l in lines), 0), places),
            }
        )
    return groups


def _body(draft: InvoiceDraft) -> dict[str, Any]:
    places = draft.precision
    option, currency, totals = draft.option, draft.contract.currency, draft.totals
    return {
        "billing_contract_id": draft.contract.id,
        "cycle": {
            "key": option.key,
            "start": option.start.isoformat(),
            "end": option.end.isoformat(),
            "status": option.status.value,
        },
        "kind": "change_log" if draft.is_change_log else "cycle",
        "as_of": draft.as_of.isoformat() if draft.is_change_log else None,
        "invoice_category": draft.invoice_category.label,
        "period_start": draft.period_start.isoformat(),
        "period_end": draft.period_end.isoformat(),
        "invoice_date": draft.invoice_date.isoformat(),
        "due_date": draft.due_date.isoformat(),
        "schedule_date": draft.schedule_date.isoformat() if draft.schedule_date else None,
        "currency": {"id": currency.id, "code": currency.code, "precision": currency.precision},
        "lines": [_line_json(line, places) for line in draft.lines],
        "categories": _categories_json(draft, places),
        "totals": {
            "amount": money_str(totals.amount, places),
            "discount": money_str(totals.discount, places),
            "tax": money_str(totals.tax, places),
            "total": money_str(totals.total, places),
        },
        "consumed": {
            "change_log_ids": list(draft.consumption.change_log_ids),
            "usage_record_ids": list(draft.consumption.usage_record_ids),
            "non_recurring_item_ids": list(draft.consumption.nri_ids),
        },
        "existing_invoices": [{"id": i.id, "number": i.number} for i in draft.existing_invoices],
        "warnings": list(draft.warnings),
        "nothing_to_invoice": draft.nothing_to_invoice,
    }


def _hash_material(draft: InvoiceDraft, body: dict[str, Any]) -> dict[str, Any]:
    """Everything that would be written, exactly (unrounded unit prices and factors, ETags)."""
    return {
        "body": body,
        "exact_lines": [
            [
                str(l.quantity),
                str(l.unit_price),
                str(l.proration_factor),
                str(l.amount),
                str(l.discount),
                str(l.tax),
                str(l.total),
                l.taxable,
            ]
            for l in draft.lines
        ],
        "contract": {"name": draft.contract.name, "account_id": draft.contract.account_id},
        "schedule_id": draft.option.schedule.id if draft.option.schedule else None,
        "etags": [list(t) for t in draft.source_etags],
    }


def _hash(draft: InvoiceDraft, body: dict[str, Any]) -> str:
    canonical = json.dumps(
        _hash_material(draft, body), sort_keys=True, separators=(",", ":"), ensure_ascii=False
    )
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def preview_hash(draft: InvoiceDraft) -> str:
    """sha256 hex of a canonical JSON of everything the invoice would write; stable across runs."""
    return _hash(draft, _body(draft))


def preview_json(draft: InvoiceDraft) -> dict[str, Any]:
    """The docs/interfaces.md preview response body for `draft` (see the module docstring)."""
    body = _body(draft)
    return {**body, "preview_hash": _hash(draft, body)}
