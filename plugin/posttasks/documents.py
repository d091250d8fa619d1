"""Pure builders of what the tasks deliver: the invoice JSON, the e-mail, the charge request."""
from __future__ import annotations

import html
from decimal import Decimal
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from typing import Any

from plugin.engine.money import money_str, plain
from plugin.posttasks.model import TaskContext


def money(value: Any, precision: int) -> str:
    """A money column (None reads as 0) at the currency's precision (`"475.20"`)."""
    return money_str(Decimal(str(value if value is not None else 0)), precision)


def invoice_document(ctx: TaskContext) -> dict[str, Any]:
    """The invoice as JSON for the accounting system (carries `invoiceid` and `invoicenumber`)."""
    inv, p = ctx.invoice, ctx.precision
    return {
        "invoiceid": ctx.invoice_id,
        "invoicenumber": ctx.invoice_number,
        "name": inv.get("name"),
        "billing_contract": {"id": ctx.contract_id, "name": ctx.contract_name},
        "customer": {"id": inv.get("_customerid_value"), "name": ctx.account_name},
        "currency": ctx.currency_code,
        "invoice_date": inv.get("w365_invoicedate"),
        "due_date": inv.get("duedate"),
        "period_start": inv.get("w365_cyclestart"),
        "period_end": inv.get("w365_cycleend"),
        "totals": {
            "subtotal": money(inv.get("totallineitemamount"), p),
            "discount": money(inv.get("discountamount"), p),
            "tax": money(inv.get("totaltax"), p),
            "total": money(inv.get("totalamount"), p),
        },
        "lines": [
            {"line": line.number, "description": line.description, "quantity": plain(line.quantity),
             "unit_price": money(line.unit_price, p), "amount": money(line.amount, p),
             "discount": money(line.discount, p), "tax": money(line.tax, p), "total": money(line.total, p)}
            for line in ctx.lines
        ],
    }


def charge_request(ctx: TaskContext) -> dict[str, Any]:
    """The payment processor's charge request for the invoice total."""
    inv = ctx.invoice
    return {
        "invoiceid": ctx.invoice_id,
        "invoicenumber": ctx.invoice_number,
        "amount": money(inv.get("totalamount"), ctx.precision),
        "currency": ctx.currency_code,
        "customer": {"id": inv.get("_customerid_value"), "name": ctx.account_name},
        "billing_contract_id": ctx.contract_id,
        "due_date": inv.get("duedate"),
    }


def _text_body(ctx: TaskContext, doc: dict[str, Any]) -> str:
    rows = [f"  {line['description']}: {line['quantity']} x {line['unit_price']} = {line['total']}"
            for line in doc["lines"]]
    t = doc["totals"]
    return "\n".join([
        f"Dear {ctx.contact_name or ctx.account_name},",
        "",
        f"please find invoice {ctx.invoice_number} for {ctx.contract_name}.",
        f"Invoice date: {doc['invoice_date']}    Due date: {doc['due_date']}",
        "",
        *rows,
        "",
        f"Subtotal: {t['subtotal']} {ctx.currency_code}",
        f"Discount: {t['discount']} {ctx.currency_code}",
        f"Tax:      {t['tax']} {ctx.currency_code}",
        f"Total:    {t['total']} {ctx.currency_code}",
        "",
    ])


def _html_body(ctx: TaskContext, doc: dict[str, Any]) -> str:
    e = html.escape
    rows = "".join(
        f"<tr><td>{e(str(line['description']))}</td><td>{e(line['quantity'])}</td>"
        f"<td>{e(line['unit_price'])}</td><td>{e(line['total'])}</td></tr>"
        for line in doc["lines"])
    t = doc["totals"]
    return (
        f"<html><body><p>Dear {e(ctx.contact_name or ctx.account_name)},</p>"
        f"<p>please find invoice <b>{e(ctx.invoice_number)}</b> for {e(ctx.contract_name)}.</p>"
        f"<p>Invoice date: {e(str(doc['invoice_date']))} &middot; Due date: {e(str(doc['due_date']))}</p>"
        "<table><tr><th>Item</th><th>Quantity</th><th>Unit price</th><th>Total</th></tr>"
        f"{rows}</table>"
        f"<p>Subtotal {e(t['subtotal'])} &middot; Discount {e(t['discount'])} &middot; Tax {e(t['tax'])}"
        f"<br><b>Total {e(t['total'])} {e(ctx.currency_code)}</b></p></body></html>"
    )


def invoice_email(ctx: TaskContext, sender: str) -> EmailMessage:
    """The invoice e-mail (text and HTML alternatives) to the primary billing contact."""
    doc = invoice_document(ctx)
    msg = EmailMessage()
    msg["Subject"] = f"Invoice {ctx.invoice_number} - {ctx.contract_name}"
    msg["From"] = sender
    msg["To"] = ctx.contact_email or ""
    msg["Date"] = formatdate(usegmt=True)
    msg["Message-ID"] = make_msgid(idstring=ctx.task_id)
    msg["X-W365-Invoice-Id"] = ctx.invoice_id
    msg.set_content(_text_body(ctx, doc))
    msg.add_alternative(_html_body(ctx, doc), subtype="html")
    return msg
