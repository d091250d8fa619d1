"""Set-based reads of everything the queued tasks of some invoices need (a handful of queries)."""
from __future__ import annotations

from decimal import Decimal
from typing import Any, Iterable, Mapping

from connectors.dataverse import DataverseClient, odata
from plugin.posttasks.model import InvoiceLine, TaskContext, TaskStatus, TaskType

TASK_COLUMNS = ["w365_postinvoicetaskid", "_w365_invoice_value", "w365_tasktype", "w365_status",
                "w365_attempts", "w365_message", "w365_signature"]
_INVOICE_COLUMNS = ["invoiceid", "name", "invoicenumber", "_customerid_value", "_transactioncurrencyid_value",
                    "_w365_billingcontract_value", "w365_invoicedate", "duedate", "w365_cyclestart",
                    "w365_cycleend", "totallineitemamount", "discountamount", "totaltax", "totalamount"]
_LINE_COLUMNS = ["_invoiceid_value", "lineitemnumber", "productdescription", "quantity", "priceperunit",
                 "baseamount", "manualdiscountamount", "tax", "extendedamount"]


def _by_id(rows: Iterable[Mapping[str, Any]], key: str) -> dict[str, Mapping[str, Any]]:
    return {row[key]: row for row in rows}


def _ids(rows: Iterable[Mapping[str, Any]], column: str) -> list[str]:
    return sorted({row[column] for row in rows if row.get(column)})


def _dec(value: Any) -> Decimal:
    return Decimal(str(value)) if value is not None else Decimal(0)


def tasks_of_invoices(client: DataverseClient, invoice_ids: Iterable[str], *,
                      queued_only: bool = False) -> list[dict[str, Any]]:
    """The task rows of some invoices (one query per 100 invoices)."""
    ids = sorted(set(invoice_ids))
    if not ids:
        return []
    flt = odata.eq("w365_status", int(TaskStatus.QUEUED)) if queued_only else None
    return list(client.query_in("w365_postinvoicetasks", "_w365_invoice_value", ids,
                                select=TASK_COLUMNS, filter=flt))


def contexts_of_tasks(client: DataverseClient, tasks: list[Mapping[str, Any]]) -> list[TaskContext]:
    """A TaskContext per task row (as `tasks_of_invoices` reads it); its invoice's data read set-based."""
    if not tasks:
        return []
    invoices = _by_id(client.query_in("invoices", "invoiceid", _ids(tasks, "_w365_invoice_value"),
                                      select=_INVOICE_COLUMNS), "invoiceid")
    lines: dict[str, list[InvoiceLine]] = {}
    for row in client.query_in("invoicedetails", "_invoiceid_value", list(invoices), select=_LINE_COLUMNS):
        lines.setdefault(row["_invoiceid_value"], []).append(InvoiceLine(
            number=int(row.get("lineitemnumber") or 0), description=row.get("productdescription") or "",
            quantity=_dec(row.get("quantity")), unit_price=_dec(row.get("priceperunit")),
            amount=_dec(row.get("baseamount")), discount=_dec(row.get("manualdiscountamount")),
            tax=_dec(row.get("tax")), total=_dec(row.get("extendedamount"))))
    contracts = _by_id(client.query_in(
        "w365_billingcontracts", "w365_billingcontractid", _ids(invoices.values(), "_w365_billingcontract_value"),
        select=["w365_billingcontractid", "w365_name", "_w365_primarybillingcontact_value"]),
        "w365_billingcontractid")
    contacts = _by_id(client.query_in(
        "contacts", "contactid", _ids(contracts.values(), "_w365_primarybillingcontact_value"),
        select=["contactid", "fullname", "emailaddress1"]), "contactid")
    accounts = _by_id(client.query_in("accounts", "accountid", _ids(invoices.values(), "_customerid_value"),
                                      select=["accountid", "name"]), "accountid")
    currencies = _by_id(client.query_in(
        "transactioncurrencies", "transactioncurrencyid", _ids(invoices.values(), "_transactioncurrencyid_value"),
        select=["transactioncurrencyid", "isocurrencycode", "currencyprecision"]), "transactioncurrencyid")

    contexts = []
    for task in tasks:
        invoice = invoices.get(task["_w365_invoice_value"])
        if invoice is None:
            continue  # cannot happen for rows written in the invoice's change set
        contract = contracts.get(invoice.get("_w365_billingcontract_value") or "", {})
        contact = contacts.get(contract.get("_w365_primarybillingcontact_value") or "", {})
        currency = currencies.get(invoice.get("_transactioncurrencyid_value") or "", {})
        precision = currency.get("currencyprecision")
        contexts.append(TaskContext(
            task_id=task["w365_postinvoicetaskid"], task_type=TaskType(task["w365_tasktype"]),
            attempts=int(task.get("w365_attempts") or 0), invoice=invoice,
            currency_code=currency.get("isocurrencycode") or "",
            precision=2 if precision is None else int(precision),
            contract_id=invoice.get("_w365_billingcontract_value"), contract_name=contract.get("w365_name") or "",
            account_name=accounts.get(invoice.get("_customerid_value") or "", {}).get("name") or "",
            contact_name=contact.get("fullname"), contact_email=(contact.get("emailaddress1") or "").strip() or None,
            lines=tuple(sorted(lines.get(invoice["invoiceid"], []), key=lambda line: line.number))))
    return contexts
