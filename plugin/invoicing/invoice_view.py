"""One written invoice as the read-only invoice page shows it: header, lines by category, totals."""
from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING, Any

from plugin.engine import LineCategory
from plugin.engine.money import money_str

if TYPE_CHECKING:
    from connectors.dataverse import DataverseClient

_INVOICE_COLUMNS = ["invoiceid", "invoicenumber", "name", "w365_cyclestart", "w365_cycleend", "w365_invoicedate",
                    "duedate", "w365_category", "totallineitemamount", "discountamount", "totaltax", "totalamount",
                    "_transactioncurrencyid_value", "_w365_billingcontract_value", "_customerid_value", "createdon"]
INVOICE_CATEGORIES = {1: "Full Cycle", 2: "One-Time", 3: "Change Log"}  # invoices.w365_category
_LINE_COLUMNS = ["lineitemnumber", "productdescription", "description", "w365_linecategory", "w365_periodstart",
                 "w365_periodend", "quantity", "priceperunit", "baseamount", "manualdiscountamount", "tax",
                 "extendedamount"]


def _money(value: Any, places: int) -> str:
    return money_str(Decimal(value if value is not None else 0), places)


def invoice_view(client: "DataverseClient", invoice_id: str) -> dict[str, Any]:
    """The invoice `invoice_id` with its lines grouped by category (raises NotFoundError when absent)."""
    row = client.get("invoices", invoice_id, select=_INVOICE_COLUMNS, formatted=True,
                     expand=[f"invoice_details($select={','.join(_LINE_COLUMNS)})"])
    currency_id = row.get("_transactioncurrencyid_value")
    currency = client.get("transactioncurrencies", currency_id,
                          select=["isocurrencycode", "currencyprecision"]) if currency_id else {}
    places = 2 if currency.get("currencyprecision") is None else int(currency["currencyprecision"])
    lines = sorted(row.get("invoice_details") or [], key=lambda l: (l.get("lineitemnumber") or 0))
    groups = []
    for category in LineCategory:
        members = [l for l in lines if l.get("w365_linecategory") == int(category)]
        if not members:
            continue
        groups.append({"category": category.label, "lines": [{
            "description": l.get("productdescription") or l.get("description") or "",
            "period_start": l.get("w365_periodstart"), "period_end": l.get("w365_periodend"),
            "quantity": str(l.get("quantity")) if l.get("quantity") is not None else "",
            "unit_price": _money(l.get("priceperunit"), places), "amount": _money(l.get("baseamount"), places),
            "discount": _money(l.get("manualdiscountamount"), places), "tax": _money(l.get("tax"), places),
            "total": _money(l.get("extendedamount"), places)} for l in members],
            "subtotal": _money(sum((Decimal(l.get("baseamount") or 0) for l in members), Decimal(0)), places)})
    return {
        "id": row["invoiceid"], "number": row.get("invoicenumber"), "name": row.get("name"),
        "category": INVOICE_CATEGORIES.get(row.get("w365_category")),
        "account": row.get("_customerid_value@OData.Community.Display.V1.FormattedValue"),
        "billing_contract": row.get("_w365_billingcontract_value@OData.Community.Display.V1.FormattedValue"),
        "period_start": row.get("w365_cyclestart"), "period_end": row.get("w365_cycleend"),
        "invoice_date": row.get("w365_invoicedate"), "due_date": row.get("duedate"),
        "currency": {"code": currency.get("isocurrencycode"), "precision": places},
        "groups": groups,
        "totals": {"amount": _money(row.get("totallineitemamount"), places),
                   "discount": _money(row.get("discountamount"), places),
                   "tax": _money(row.get("totaltax"), places), "total": _money(row.get("totalamount"), places)},
    }
