"""A run's Result read from Dataverse alone: run row + run items + their invoices and tasks."""
from __future__ import annotations

from typing import Any, Iterable

from connectors.dataverse import DataverseClient
from plugin.engine import ONE_TIME
from plugin.engine.money import money_str
from plugin.runs.model import RowResult, RunView
from plugin.runs.store import RunRecord, run_items
from plugin.invoicing.writes import RESULT_NAMES, RUN_RUNNING, RowOutcome
from plugin.posttasks.loading import tasks_of_invoices
from plugin.posttasks.model import task_view

NOT_RECORDED = "no result was recorded for this row"
IN_CHUNK = 200  # ids per `In` query: ~8 KB URLs
_INVOICE_COLUMNS = ["invoiceid", "invoicenumber", "_w365_billingcontract_value", "w365_cyclestart",
                    "w365_category", "totalamount", "_transactioncurrencyid_value", "createdon"]


def contract_names(client: DataverseClient, contract_ids: Iterable[str]) -> dict[str, str]:
    """Contract id -> Billing Contract Name (set-based)."""
    return {str(r["w365_billingcontractid"]).lower(): r.get("w365_name") or ""
            for r in client.query_in("w365_billingcontracts", "w365_billingcontractid", sorted(set(contract_ids)),
                                     select=["w365_billingcontractid", "w365_name"], chunk_size=IN_CHUNK)}


def _currencies(client: DataverseClient, invoices: Iterable[dict[str, Any]]) -> dict[str, tuple[int, str | None]]:
    """Currency id -> (precision, ISO code); a null precision reads as 2, and 0 is a precision."""
    ids = sorted({str(i["_transactioncurrencyid_value"]).lower() for i in invoices
                  if i.get("_transactioncurrencyid_value")})
    rows = client.query_in("transactioncurrencies", "transactioncurrencyid", ids,
                           select=["transactioncurrencyid", "currencyprecision", "isocurrencycode"]) if ids else []
    return {str(r["transactioncurrencyid"]).lower(): (
        2 if r.get("currencyprecision") is None else int(r["currencyprecision"]), r.get("isocurrencycode"))
        for r in rows}


def _existing_for(invoices: list[dict[str, Any]], contract_id: str, cycle: str | None,
                  own: dict[str, Any] | None) -> list[dict[str, Any]]:
    """The cycle's other invoices created before this row's own invoice (all of them if none)."""
    if not cycle or cycle == ONE_TIME:
        return []
    found = [i for i in invoices
             if str(i.get("_w365_billingcontract_value")).lower() == contract_id
             and str(i.get("w365_cyclestart")) == cycle and i.get("w365_category") not in (2, 3)
             and (own is None or (i["invoiceid"] != own["invoiceid"]
                                  and str(i.get("createdon")) <= str(own.get("createdon"))))]
    found.sort(key=lambda i: (str(i.get("createdon")), str(i.get("invoicenumber"))))
    return [{"id": i["invoiceid"], "number": i.get("invoicenumber")} for i in found]


def outcomes_from_items(client: DataverseClient, items: list[dict[str, Any]]) -> dict[int, RowOutcome]:
    """Row index -> the outcome its run item records (invoice number and total read set-based)."""
    contract_ids = {str(i["_w365_billingcontract_value"]).lower() for i in items
                    if i.get("_w365_billingcontract_value")}
    invoices = list(client.query_in("invoices", "_w365_billingcontract_value", sorted(contract_ids),
                                    select=_INVOICE_COLUMNS, chunk_size=IN_CHUNK)) if contract_ids else []
    by_id = {str(i["invoiceid"]).lower(): i for i in invoices}
    currencies = _currencies(client, invoices)
    outcomes = {}
    for item in items:
        if not item.get("w365_result"):
            continue
        status = RESULT_NAMES[item["w365_result"]]
        contract_id = str(item.get("_w365_billingcontract_value") or "").lower()
        own = by_id.get(str(item.get("_w365_invoice_value") or "").lower()) if status == "created" else None
        invoice, code = None, None
        if own is not None:
            total = own.get("totalamount")
            precision, code = currencies.get(str(own.get("_transactioncurrencyid_value")).lower(), (2, None))
            invoice = {"id": own["invoiceid"], "number": own.get("invoicenumber"),
                       "total": None if total is None else money_str(total, precision)}
        cycle = item.get("w365_cyclekey")
        outcomes[int(item["w365_rowindex"])] = RowOutcome(
            status=status, cycle=cycle, invoice=invoice, message=item.get("w365_message"),
            existing_invoices=_existing_for(invoices, contract_id, cycle, own), currency=code)
    return outcomes


def recorded_outcomes(client: DataverseClient, run_id: str) -> dict[int, RowOutcome]:
    """Row index -> the status, cycle and message its run item records: what resuming a run needs, read
    from the run items alone (no invoice read per chunk of a long run)."""
    return {int(item["w365_rowindex"]): RowOutcome(status=RESULT_NAMES[item["w365_result"]],
                                                   cycle=item.get("w365_cyclekey"), message=item.get("w365_message"))
            for item in run_items(client, run_id) if item.get("w365_result") in RESULT_NAMES}


def task_views(client: DataverseClient, invoice_ids: Iterable[str]) -> dict[str, list[dict[str, str]]]:
    """Invoice id -> its post tasks as the API shows them (Send, Sync, Charge order)."""
    views: dict[str, list[dict[str, str]]] = {}
    for task in sorted(tasks_of_invoices(client, invoice_ids), key=lambda t: t["w365_tasktype"]):
        views.setdefault(str(task["_w365_invoice_value"]).lower(), []).append(task_view(task))
    return views


def load_view(client: DataverseClient, record: RunRecord) -> RunView:
    """The run as `GET /invoice-runs/{id}` shows it, from Dataverse alone."""
    items = run_items(client, record.run_id)
    outcomes = outcomes_from_items(client, items)
    rows = list(record.rows)
    names = contract_names(client, {r.billing_contract_id for r in rows}) if rows else {}
    tasks = task_views(client, [str(i["_w365_invoice_value"]).lower() for i in items
                                if i.get("_w365_invoice_value") and i.get("w365_triggerposttasks")])
    running = record.status in (None, RUN_RUNNING)
    results = []
    for row in rows:
        outcome = outcomes.get(row.index)
        if outcome is None and not running:
            outcome = RowOutcome(status="failed", cycle=row.cycle, message=NOT_RECORDED)
        invoice_id = str((outcome.invoice or {}).get("id") or "").lower() if outcome else ""
        results.append(RowResult(outcome, tasks.get(invoice_id, [])))
    return RunView(run_id=record.run_id, run_key=record.run_key, status=record.status or RUN_RUNNING,
                   source=record.source, rows=rows, names=names, results=results)
