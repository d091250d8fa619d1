"""Atomic writes of docs/billing-rules.md: one change set per (contract, cycle), the failure write, and the
interpretation of a failed change set (races → skipped, 403 → failed with a privilege message).

Change set of an invoice, in order (each write's Content-ID is remembered with its role):
  [run (single flow only: created here so a replayed request fails on `w365_runkey`)]
  [schedule created Invoiced by alternate key with `If-None-Match: *`  (no schedule at read time)]
  invoice + lines (deep insert, `return=representation` for its number)
  schedule: link the invoice (by alternate key) | update with `If-Match: <read ETag>` (schedule existed)
  consumed LCLs → Archived, usage and NRIs → Invoiced, each with `If-Match: <read ETag>` so a source
  consumed by a concurrent invoice fails this change set instead of being billed twice
  run item Created (alternate key `w365_runrow`: a replay fails the change set instead of duplicating)
  post-task rows Queued (only when task types are given: bulk rows with the box checked)
"""
from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, Iterable, Sequence

from connectors.dataverse import Batch, ChangesetResult, odata
from connectors.dataverse.errors import (DataverseError,
                                         PreconditionFailedError, PrivilegeError)
from connectors.dataverse.jsonutil import dumps
from plugin.engine import Contract, CycleOption, InvoiceDraft, parse_change_log_key
from plugin.invoicing import mapping
from plugin.posttasks.signing import row_signature
from plugin.engine.money import money_str
from plugin.invoicing.reads import invoice_numbers, read_schedule
from plugin.posttasks.model import TaskStatus

if TYPE_CHECKING:
    from connectors.dataverse import DataverseClient

# w365_invoicerunitems.w365_result / w365_invoiceruns.w365_mode, w365_source, w365_status
RESULT_CREATED, RESULT_SKIPPED, RESULT_FAILED = 1, 2, 3
RESULT_NAMES = {RESULT_CREATED: "created", RESULT_SKIPPED: "skipped", RESULT_FAILED: "failed"}
RESULT_VALUES = {name: value for value, name in RESULT_NAMES.items()}
MODE_SINGLE, MODE_BULK = 1, 2
SOURCES = {"api": 1, "webhook": 2, "page": 3, "cli": 4}
RUN_RUNNING, RUN_COMPLETED, RUN_COMPLETED_WITH_ERRORS = 1, 2, 3
SCHEDULE_ERROR = (0, 2)       # statecode, statuscode
MESSAGE_MAX = 2000

PRIVILEGE_MESSAGE = ("the user lacks the Dataverse privilege to create invoices "
                     "(ask an administrator for a billing role)")
CONCURRENT_PREFIX = "invoiced concurrently by"
CHANGED_CONCURRENTLY = "changed concurrently"
REPLAYED_MESSAGE = "already processed by an earlier delivery of this request"


@dataclass
class RowOutcome:
    """The Result of one requested row (docs/interfaces.md `result`), plus why it failed when it did."""

    status: str                                 # "created" | "skipped" | "failed"
    cycle: str | None = None                    # the cycle key (the default resolved)
    invoice: dict[str, Any] | None = None       # {id, number, total}
    existing_invoices: list[dict[str, Any]] = field(default_factory=list)
    message: str | None = None
    replayed: bool = False                      # the run / run item exists: an earlier delivery wrote it
    privilege_error: bool = False               # Dataverse refused for lack of privilege (403)
    error: DataverseError | None = None
    currency: str | None = None                 # the invoice's ISO currency code (CSV only)

    def as_json(self) -> dict[str, Any]:
        """`{status, invoice, existing_invoices, message}` (the API's `result`)."""
        return {"status": self.status, "invoice": self.invoice, "existing_invoices": self.existing_invoices,
                "message": self.message}


@dataclass
class PlannedInvoice:
    """One invoice change set added to a batch: what it writes and the role of each Content-ID."""

    tag: Any
    draft: InvoiceDraft
    row_index: int
    run_ref: str
    invoice_ref: str
    correlation_id: str | None
    roles: dict[str, str] = field(default_factory=dict)   # "3" -> "schedule" | "nri" | "run_item" | ...


def now_utc() -> datetime:
    """The current time, UTC."""
    return datetime.now(timezone.utc)


def _utc_text(when: datetime) -> str:
    return when.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _clip(text: str | None) -> str | None:
    return text if text is None or len(text) <= MESSAGE_MAX else text[:MESSAGE_MAX - 1] + "…"


def new_correlation_id() -> str:
    """A fresh correlation id (GUID string)."""
    return str(uuid.uuid4())


def schedule_key(contract_id: str, cycle_key: str) -> dict[str, str]:
    """The alternate key `w365_contractcycle` of a cycle's billing schedule."""
    return {"_w365_billingcontract_value": contract_id, "w365_cyclestart": cycle_key}


def existing_json(draft_or_option: InvoiceDraft | CycleOption) -> list[dict[str, Any]]:
    """The invoices that already existed for the cycle when it was read (Invoiced only)."""
    if isinstance(draft_or_option, InvoiceDraft):
        refs = draft_or_option.existing_invoices
    else:
        refs = draft_or_option.invoices if draft_or_option.status.value == "invoiced" else ()
    return [{"id": r.id, "number": r.number} for r in refs]


def invoice_names(refs: Iterable[Any]) -> str:
    """"INV-00001, INV-00002" (an id where the number is unknown)."""
    return ", ".join(r.number or r.id for r in refs)


def created_message(draft: InvoiceDraft) -> str:
    """The Result message of a created invoice (names the invoices that already existed)."""
    if draft.existing_invoices:
        return f"Already invoiced ({invoice_names(draft.existing_invoices)}): an additional invoice was created"
    return "Invoice created"


# ---- records ----------------------------------------------------------------------------------

def run_record(*, run_key: str, mode: int, source: str, rows: Sequence[dict[str, Any]],
               initiating_user_id: str | None = None, status: int = RUN_RUNNING,
               counts: tuple[int, int, int] | None = None, name: str | None = None,
               run_id: str | None = None, options: dict[str, Any] | None = None) -> dict[str, Any]:
    """A `w365_invoiceruns` body; `rows` are the requested rows (see `request_row`), kept as JSON;
    `counts` = (created, skipped, failed); `run_id` sets the row's id (known before it is written);
    `options` (run-wide `onExisting`, `asOf`) are kept with the rows so another process can resume."""
    created, skipped, failed = counts or (0, 0, 0)
    kind = "single" if mode == MODE_SINGLE else f"bulk, {len(rows)} rows"
    options = {k: v for k, v in (options or {}).items() if v is not None}
    request = {"rows": list(rows), **options} if options else list(rows)
    record: dict[str, Any] = {
        "w365_name": name or f"Generate Invoice ({kind}) {_utc_text(now_utc())}",
        "w365_runkey": run_key, "w365_mode": mode, "w365_source": SOURCES[source],
        "w365_requestjson": dumps(request), "w365_status": status, "w365_total": len(rows),
        "w365_created": created, "w365_skipped": skipped, "w365_failed": failed,
    }
    if run_id:
        record["w365_invoicerunid"] = run_id
    if initiating_user_id:
        record["w365_InitiatingUser@odata.bind"] = odata.bind("systemusers", initiating_user_id)
    return record


def request_row(contract_id: str, cycle: str | None, trigger_post_tasks: bool = False) -> dict[str, Any]:
    """One requested row in the webhook `Rows` / `w365_requestjson` shape (a change log as kind + asOf)."""
    change_log_as_of = parse_change_log_key(cycle)
    if change_log_as_of is not None:
        return {"billingContractId": contract_id, "kind": "change_log", "asOf": change_log_as_of.isoformat(),
                "triggerPostInvoicingTasks": trigger_post_tasks}
    return {"billingContractId": contract_id, "cycle": cycle, "triggerPostInvoicingTasks": trigger_post_tasks}


def run_item_record(*, run: str, row_index: int, contract_id: str | None, cycle_key: str | None, result: int,
                    message: str | None, correlation_id: str | None, invoice: str | None = None,
                    trigger_post_tasks: bool = False) -> dict[str, Any]:
    """A `w365_invoicerunitems` body (`run`/`invoice`: GUID or bind reference)."""
    record: dict[str, Any] = {
        "w365_InvoiceRun@odata.bind": mapping.bind("w365_invoiceruns", run),
        "w365_rowindex": row_index, "w365_cyclekey": cycle_key, "w365_result": result,
        "w365_triggerposttasks": trigger_post_tasks, "w365_message": _clip(message),
        "w365_correlationid": correlation_id,
    }
    if contract_id:
        record["w365_BillingContract@odata.bind"] = mapping.bind("w365_billingcontracts", contract_id)
    if invoice:
        record["w365_Invoice@odata.bind"] = mapping.bind("invoices", invoice)
    return record


def post_task_record(invoice_id: str, task_type: int, signing_key: str,
                     task_id: str | None = None) -> dict[str, Any]:
    """A Queued `w365_postinvoicetasks` body for the invoice `invoice_id`, with its id assigned here and
    its `w365_signature` (only rows the service signed are ever executed)."""
    task_id = task_id or str(uuid.uuid4())
    return {"w365_postinvoicetaskid": task_id, "w365_Invoice@odata.bind": mapping.bind("invoices", invoice_id),
            "w365_tasktype": task_type, "w365_status": TaskStatus.QUEUED, "w365_attempts": 0,
            "w365_signature": row_signature(signing_key, task_id, invoice_id, task_type)}


# ---- the invoice change set ---------------------------------------------------------------------

def add_invoice_changeset(batch: Batch, draft: InvoiceDraft, *, run: str | dict[str, Any], row_index: int,
                          correlation_id: str | None = None, run_date: datetime | None = None,
                          post_task_types: Iterable[int] = (), trigger_post_tasks: bool = False,
                          tag: Any = None, signing_key: str | None = None) -> PlannedInvoice:
    """Add the atomic change set creating `draft`'s invoice (docs/billing-rules.md) to `batch`.

    `run`: the run's GUID, or a `w365_invoiceruns` body (see `run_record`) to create the run in this
    very change set (single flow). `post_task_types`: task types (1 Send, 2 Sync, 3 Charge) to queue;
    empty for a single manual invoice; the task rows are signed with `signing_key` (the invoice's id
    is then assigned here, so that the signature can name it). The draft must have lines.
    """
    if draft.nothing_to_invoice:
        raise ValueError("nothing to invoice: no change set to write")
    run_date = run_date or now_utc()
    cs = batch.changeset(tag=tag)
    roles: dict[str, str] = {}

    def note(ref: str, role: str) -> str:
        roles[ref.lstrip("$")] = role
        return ref

    run_ref = note(cs.create("w365_invoiceruns", run), "run") if isinstance(run, dict) else run
    contract, option = draft.contract, draft.option
    schedule = option.schedule
    new_schedule_ref = None
    if draft.writes_schedule and schedule is None:
        record = mapping.schedule_record(draft, invoice="$0", run_date=run_date, correlation_id=correlation_id)
        record.pop("w365_Invoice@odata.bind")
        new_schedule_ref = note(cs.upsert("w365_billingschedules", schedule_key(contract.id, draft.cycle_key),
                                          record, only_create=True), "schedule")
    schedule_ref = new_schedule_ref or (schedule.id if schedule is not None and draft.writes_schedule else None)
    task_types = tuple(post_task_types)
    if task_types and not signing_key:
        raise ValueError("post-invoicing tasks need a signing key")
    invoice_record = mapping.invoice_record(draft, schedule=schedule_ref, run=run_ref,
                                            post_tasks_requested=bool(task_types))
    invoice_id = str(uuid.uuid4()) if task_types else None
    if invoice_id:
        invoice_record["invoiceid"] = invoice_id
    invoice_ref = note(cs.create("invoices", invoice_record, return_representation=True), "invoice")
    if new_schedule_ref is not None:
        note(cs.update("w365_billingschedules", schedule_key(contract.id, draft.cycle_key),
                       {"w365_Invoice@odata.bind": invoice_ref}), "schedule_link")
    elif schedule is not None and draft.writes_schedule:
        note(cs.update("w365_billingschedules", schedule.id,
                       mapping.schedule_record(draft, invoice=invoice_ref, run_date=run_date,
                                               correlation_id=correlation_id),
                       etag=schedule.etag), "schedule")
    for update in mapping.consumption_updates(draft, invoice_ref):
        role = "nri" if update.entity_set == "w365_nonrecurringitems" else "source"
        note(cs.update(update.entity_set, update.id, update.changes, etag=update.etag), role)
    note(cs.create("w365_invoicerunitems", run_item_record(
        run=run_ref, row_index=row_index, contract_id=contract.id, cycle_key=draft.cycle_key,
        result=RESULT_CREATED, message=created_message(draft), correlation_id=correlation_id,
        invoice=invoice_ref, trigger_post_tasks=trigger_post_tasks)), "run_item")
    for task_type in task_types:
        note(cs.create("w365_postinvoicetasks", post_task_record(invoice_id, task_type, signing_key)), "post_task")
    return PlannedInvoice(tag=tag, draft=draft, row_index=row_index, run_ref=run_ref, invoice_ref=invoice_ref,
                          correlation_id=correlation_id, roles=roles)


def created_outcome(plan: PlannedInvoice, result: ChangesetResult) -> RowOutcome:
    """The Result of a change set that succeeded: the invoice with its number and total."""
    part = next((p for p in result.parts if p.content_id == plan.invoice_ref.lstrip("$")), None)
    body = (part.json if part is not None else None) or {}
    invoice_id = body.get("invoiceid") or (part.entity_id if part is not None else None)
    draft = plan.draft
    return RowOutcome(
        status="created", cycle=draft.cycle_key,
        invoice={"id": str(invoice_id).lower() if invoice_id else None, "number": body.get("invoicenumber"),
                 "total": money_str(draft.totals.total, draft.precision)},
        existing_invoices=existing_json(draft), message=created_message(draft),
        currency=draft.contract.currency.code)


def fill_invoice_numbers(client: "DataverseClient", outcomes: Iterable[RowOutcome]) -> None:
    """Fetch the numbers of created invoices whose change-set answer carried none (one query)."""
    missing = [o for o in outcomes if o.invoice and o.invoice.get("id") and not o.invoice.get("number")]
    if not missing:
        return
    rows = invoice_numbers(client, [o.invoice["id"] for o in missing])
    for outcome in missing:
        outcome.invoice["number"] = (rows.get(outcome.invoice["id"]) or {}).get("invoicenumber")


# ---- failed change sets --------------------------------------------------------------------------

def failed_role(plan: PlannedInvoice, result: ChangesetResult) -> str | None:
    """The role of the write that failed the change set, when the answer names it."""
    failed = next((p for p in result.parts if not p.ok), None)
    if failed is None or not failed.content_id:
        return None
    return plan.roles.get(str(failed.content_id).lstrip("$"))


def _who_invoiced(client: "DataverseClient", plan: PlannedInvoice) -> str | None:
    """The number of the invoice that took the cycle or one of its sources concurrently, re-read now."""
    draft = plan.draft
    invoice_id = None
    if draft.writes_schedule:
        row = read_schedule(client, draft.contract.id, draft.cycle_key)
        if row and row.get("statuscode") == 3:
            invoice_id = row.get("_w365_invoice_value")
    consumed = draft.consumption
    sources = (("w365_nonrecurringitems", consumed.nri_ids), ("w365_licensechangelogs", consumed.change_log_ids),
               ("w365_usagerecords", consumed.usage_record_ids))
    for entity_set, ids in sources:
        if invoice_id:
            break
        invoice_id = _consumer_of(client, entity_set, ids)
    if not invoice_id:
        return None
    found = invoice_numbers(client, [str(invoice_id).lower()]).get(str(invoice_id).lower()) or {}
    return found.get("invoicenumber") or str(invoice_id)


def _consumer_of(client: "DataverseClient", entity_set: str, ids: Iterable[str]) -> str | None:
    """The invoice that consumed (statuscode 2) any of these source rows, in one query."""
    ids = list(ids)
    if not ids:
        return None
    for row in client.query_in(entity_set, entity_set[:-1] + "id", ids,
                               select=["_w365_invoice_value", "statuscode"]):
        if row.get("statuscode") == 2 and row.get("_w365_invoice_value"):
            return row["_w365_invoice_value"]
    return None


def interpret_failure(client: "DataverseClient", plan: PlannedInvoice, result: ChangesetResult) -> RowOutcome:
    """What a failed invoice change set means for its row (nothing of it was written).

    - 412 on the run / run item, or any 412 when the row's run item exists: failed with `replayed`
      set — an earlier delivery wrote this row; re-read its result instead of writing one;
    - 412 on the schedule or a consumed row: skipped, "invoiced concurrently by INV-…" (re-read who
      did); for a change log "changed concurrently [by INV-…]";
    - 403: failed with a clear privilege message (`privilege_error`);
    - anything else: failed with Dataverse's message (`error` keeps the exception).
    """
    error = result.error or DataverseError("the change set failed")
    draft = plan.draft
    role = failed_role(plan, result)
    outcome = RowOutcome(status="failed", cycle=draft.cycle_key, existing_invoices=existing_json(draft), error=error)
    if isinstance(error, PrivilegeError) or error.status == 403:
        outcome.message, outcome.privilege_error = f"{PRIVILEGE_MESSAGE}: {error.message}", True
        return outcome
    if isinstance(error, PreconditionFailedError) or error.status == 412:
        # A replay fails on whichever guarded write comes first (the schedule precedes the run item),
        # so an existing run item is checked before blaming another writer.
        if role in ("run", "run_item") or _run_item_exists(client, plan):
            outcome.message, outcome.replayed = REPLAYED_MESSAGE, True
            return outcome
        who = _who_invoiced(client, plan)
        if who or role in ("schedule", "nri", "source"):
            outcome.status = "skipped"
            if draft.is_change_log:  # a change log takes no cycle: only its sources can be taken
                outcome.message = f"{CHANGED_CONCURRENTLY} by {who}" if who else CHANGED_CONCURRENTLY
            else:
                outcome.message = f"{CONCURRENT_PREFIX} {who or 'another request'}"
            return outcome
    outcome.message = f"Dataverse refused the invoice: {error.message or error}"
    return outcome


def _run_item_exists(client: "DataverseClient", plan: PlannedInvoice) -> bool:
    """Whether the row's run item exists already (a run created in the change set cannot have one)."""
    if plan.run_ref.startswith("$"):
        return False
    run_id = plan.run_ref.rsplit("(", 1)[-1].rstrip(")")
    rows = client.query("w365_invoicerunitems", select=["w365_invoicerunitemid"], top=1,
                        filter=odata.and_(odata.eq("_w365_invoicerun_value", run_id),
                                          odata.eq("w365_rowindex", plan.row_index)))
    return next(iter(rows), None) is not None


# ---- results without an invoice: skipped rows and the failure write ------------------------------

def add_result_changeset(batch: Batch, *, run: str | dict[str, Any], row_index: int, contract_id: str | None,
                         outcome: RowOutcome, correlation_id: str | None = None,
                         trigger_post_tasks: bool = False, tag: Any = None) -> str:
    """A change set writing a row's run item (Skipped/Failed) — and the run itself when `run` is a body.

    Returns the run reference (`$n` when created here, else the GUID given).
    """
    cs = batch.changeset(tag=tag)
    run_ref = cs.create("w365_invoiceruns", run) if isinstance(run, dict) else run
    cs.create("w365_invoicerunitems", run_item_record(
        run=run_ref, row_index=row_index, contract_id=contract_id, cycle_key=outcome.cycle,
        result=RESULT_VALUES[outcome.status], message=outcome.message, correlation_id=correlation_id,
        invoice=(outcome.invoice or {}).get("id"), trigger_post_tasks=trigger_post_tasks))
    return run_ref


def add_schedule_failure(batch: Batch, *, contract: Contract, option: CycleOption, message: str,
                         correlation_id: str | None, tag: Any = None) -> None:
    """A change set recording a failed cycle on its schedule (docs/billing-rules.md), apart from the run item.

    Schedule Invoiced at read time: only `w365_message` and `w365_correlationid` are written.
    Pending/Error: set to Error with `If-Match` on the read ETag. None: created Error by alternate
    key with `If-None-Match: *`. One-time and change-log invoices have no schedule: nothing is added. A 412 here
    means another writer got there first; the caller may ignore it.
    """
    if not option.has_schedule or option.cycle is None:
        return
    cs = batch.changeset(tag=tag)
    schedule = option.schedule
    texts = {"w365_message": _clip(message), "w365_correlationid": correlation_id}
    if schedule is not None and schedule.status.value == 3:
        cs.update("w365_billingschedules", schedule.id, texts, etag=None)
        return
    state = {"statecode": SCHEDULE_ERROR[0], "statuscode": SCHEDULE_ERROR[1], **texts}
    if schedule is not None:
        cs.update("w365_billingschedules", schedule.id, state, etag=schedule.etag)
        return
    cycle = option.cycle
    cs.upsert("w365_billingschedules", schedule_key(contract.id, option.key), {
        "w365_name": f"{contract.name} {cycle.start.isoformat()}–{cycle.end.isoformat()}",
        "w365_BillingContract@odata.bind": odata.bind("w365_billingcontracts", contract.id),
        "w365_cyclestart": cycle.start.isoformat(), "w365_cycleend": cycle.end.isoformat(),
        "w365_rundate": _utc_text(now_utc()), "w365_runtype": 1, **state,
    }, only_create=True)
