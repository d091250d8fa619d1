"""The run row and run items in Dataverse: open (idempotently), record progress, read items back."""
from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date
from typing import Any, Iterable

from marshmallow import ValidationError

from connectors.dataverse import DataverseClient, odata
from connectors.dataverse.errors import NotFoundError, PreconditionFailedError
from plugin.runs.model import SOURCE_LABELS, RunRequest, RunRow, rows_from_dicts
from plugin.invoicing.writes import MODE_BULK, RUN_RUNNING, run_record
from plugin.runs.lease import LeaseState
from schemas.webhook import is_guid, normalise_guid, parse_request_json

RUN_COLUMNS = ["w365_invoicerunid", "w365_runkey", "w365_mode", "w365_source", "w365_requestjson",
               "w365_status", "w365_total", "w365_created", "w365_skipped", "w365_failed",
               "_w365_initiatinguser_value", "w365_leaseowner", "w365_leaseexpires", "modifiedon", "createdon"]
ITEM_COLUMNS = ["w365_invoicerunitemid", "w365_rowindex", "_w365_billingcontract_value", "w365_cyclekey",
                "w365_triggerposttasks", "w365_result", "_w365_invoice_value", "w365_message",
                "w365_correlationid"]


@dataclass(frozen=True)
class RunRecord:
    """A `w365_invoiceruns` row as the run engine needs it."""

    run_id: str
    run_key: str
    status: int | None           # None: written by the command script, not started yet
    source: str | None
    rows: tuple[RunRow, ...]
    etag: str | None = None
    mode: int | None = MODE_BULK   # MODE_SINGLE: one Create press (POST /invoices, w365_GenerateInvoice)
    on_existing: str | None = None
    as_of: date | None = None
    initiating_user_id: str | None = None
    lease: LeaseState | None = None

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> "RunRecord":
        """Parse a read row; the requested rows and run options come from `w365_requestjson`."""
        rows, options = (), {}
        try:
            if row.get("w365_requestjson"):
                found, options = parse_request_json(row["w365_requestjson"])
                rows = rows_from_dicts(found)
        except ValidationError:
            rows = ()
        try:
            as_of = date.fromisoformat(options["asOf"]) if options.get("asOf") else None
        except ValueError:
            as_of = None
        return cls(run_id=str(row["w365_invoicerunid"]).lower(), run_key=row.get("w365_runkey") or "",
                   status=row.get("w365_status"), source=SOURCE_LABELS.get(row.get("w365_source")),
                   rows=rows, etag=row.get("@odata.etag"), mode=row.get("w365_mode"),
                   on_existing=options.get("onExisting"), as_of=as_of,
                   initiating_user_id=row.get("_w365_initiatinguser_value"),
                   lease=LeaseState.from_row(row) if "w365_leaseexpires" in row else None)


def valid_run_key(key: str) -> bool:
    """Whether `key` can name a run: 1-100 characters, none of them a control character."""
    return 0 < len(key) <= 100 and not any(ord(c) < 32 or ord(c) == 127 for c in key)


def _start_columns(request: RunRequest, run_key: str, lease: dict[str, Any]) -> dict[str, Any]:
    options = {"onExisting": request.on_existing, "asOf": request.as_of.isoformat() if request.as_of else None}
    return {**run_record(run_key=run_key, mode=MODE_BULK, source=request.source,
                         rows=[row.request_json() for row in request.rows],
                         initiating_user_id=request.initiating_user, status=RUN_RUNNING, options=options),
            **lease}


def user_of_object_id(client: DataverseClient, object_id: str) -> str | None:
    """The systemuserid of an Entra object id (None when no user has it)."""
    rows = client.query("systemusers", select=["systemuserid"], top=1,
                        filter=odata.eq("azureactivedirectoryobjectid", object_id))
    found = next(iter(rows), None)
    return found["systemuserid"] if found else None


def find_run_by_key(client: DataverseClient, run_key: str) -> RunRecord | None:
    """The run whose `w365_runkey` is `run_key`, or None."""
    try:
        return RunRecord.from_row(client.get_by_key("w365_invoiceruns", {"w365_runkey": run_key},
                                                    select=RUN_COLUMNS))
    except NotFoundError:
        return None


def find_run(client: DataverseClient, run_id_or_key: str) -> RunRecord | None:
    """The run with this id, else the run with this run key; None when neither exists."""
    if is_guid(run_id_or_key):
        try:
            return RunRecord.from_row(client.get("w365_invoiceruns", normalise_guid(run_id_or_key),
                                                        select=RUN_COLUMNS))
        except NotFoundError:
            pass
    return find_run_by_key(client, run_id_or_key)


def open_run(client: DataverseClient, request: RunRequest, lease: dict[str, Any]) -> tuple[RunRecord, bool]:
    """Create the run row for `request` with `lease` (see run_lease), or find the one its run key names.

    Returns the record and whether this call owns its execution: True for a new row, and for a row
    the command script wrote (no status yet) that this call claimed; False for a replay.
    """
    key = request.run_key or str(uuid.uuid4())
    try:
        run_id = client.upsert("w365_invoiceruns", {"w365_runkey": key}, _start_columns(request, key, lease),
                               only_create=True)
        return RunRecord(run_id=run_id.lower(), run_key=key, status=RUN_RUNNING, source=request.source,
                         rows=request.rows), True
    except PreconditionFailedError:
        pass
    existing = find_run_by_key(client, key)
    if existing is None:
        raise NotFoundError(f"run {key!r} vanished while being opened")
    if existing.status is not None:
        return existing, False
    rows = request.rows or existing.rows
    try:
        client.update("w365_invoiceruns", existing.run_id, _start_columns(request.with_rows(rows), key, lease),
                      etag=existing.etag)
    except PreconditionFailedError:  # claimed by a concurrent delivery of the same RunId
        return find_run_by_key(client, key) or existing, False
    return RunRecord(run_id=existing.run_id, run_key=key, status=RUN_RUNNING, source=request.source,
                     rows=rows), True


def claim_for_retry(client: DataverseClient, record: RunRecord, lease: dict[str, Any]) -> bool:
    """Set a finished run back to Running under `lease` (If-Match on its ETag); False when someone else did
    first."""
    try:
        client.update("w365_invoiceruns", record.run_id, {"w365_status": RUN_RUNNING, **lease}, etag=record.etag)
    except PreconditionFailedError:
        return False
    return True


def save_progress(client: DataverseClient, run_id: str, counts: dict[str, int], status: int) -> None:
    """Write the run's counts and status."""
    client.update("w365_invoiceruns", run_id, {
        "w365_status": status, "w365_created": counts.get("created", 0),
        "w365_skipped": counts.get("skipped", 0), "w365_failed": counts.get("failed", 0),
    })


def run_items(client: DataverseClient, run_id: str, row_indexes: Iterable[int] | None = None) -> list[dict[str, Any]]:
    """The run items of a run (all, or those of some row indexes)."""
    flt = odata.eq("_w365_invoicerun_value", run_id)
    if row_indexes is None:
        return list(client.query("w365_invoicerunitems", select=ITEM_COLUMNS, filter=flt, page_size=5000))
    return list(client.query_in("w365_invoicerunitems", "w365_rowindex", sorted(set(row_indexes)),
                                select=ITEM_COLUMNS, filter=flt, chunk_size=200))
