"""The single-contract flow (docs/interfaces.md): list cycles, preview, generate one invoice exactly once.

The API, the webhook (`w365_GenerateInvoice`) and the CLI call these functions with a Dataverse
client that already acts as the right user. A single manual invoice never queues post tasks.
"""
from __future__ import annotations

import uuid
from dataclasses import dataclass, replace
from datetime import date, datetime, timezone
from typing import TYPE_CHECKING, Any

from connectors.dataverse import Batch
from connectors.dataverse.errors import DataverseError, PrivilegeError
from plugin.engine import (NOTHING_TO_INVOICE, EngineError, InvoiceDraft, build_change_log, build_invoice, list_cycles,
                           parse_change_log_key, preview_json)
from plugin.errors import ApiError
from plugin.invoicing.present import contract_header
from plugin.invoicing.reads import LoadedContract, load_contract
from plugin.runs.store import find_run_by_key, run_items
from plugin.runs.view import NOT_RECORDED, outcomes_from_items
from plugin.invoicing.writes import (MODE_SINGLE, PRIVILEGE_MESSAGE, RUN_COMPLETED, RUN_COMPLETED_WITH_ERRORS,
                                     RowOutcome, add_invoice_changeset, add_result_changeset,
                                     add_schedule_failure, created_outcome, existing_json, fill_invoice_numbers,
                                     interpret_failure, invoice_names, new_correlation_id, request_row,
                                     run_record)

if TYPE_CHECKING:
    from connectors.dataverse import DataverseClient

ON_EXISTING_DEFAULT = "create_additional"


@dataclass(frozen=True)
class GenerateRequest:
    """One Create press: a contract, its cycle (None: the default) and what to do if already invoiced."""

    contract_id: str
    cycle: str | None = None
    as_of: date | None = None
    on_existing: str | None = None
    preview_hash: str | None = None


@dataclass(frozen=True)
class GenerateResult:
    """The answer of a generate: HTTP status (201 created, 200 otherwise) and the result JSON."""

    status_code: int
    body: dict[str, Any]
    privilege_error: bool = False
    replayed: bool = False

    @property
    def outcome(self) -> dict[str, Any]:
        """The `result` object."""
        return self.body["result"]


def today_utc() -> date:
    """The current UTC date ("today" of docs/billing-rules.md)."""
    return datetime.now(timezone.utc).date()


def _engine_error(exc: EngineError) -> ApiError:
    return ApiError(exc.status, exc.code, exc.message, exc.details)


def _load(client: "DataverseClient", contract_id: str) -> LoadedContract:
    try:
        loaded = load_contract(client, contract_id)
    except EngineError as exc:
        raise _engine_error(exc) from exc
    except PrivilegeError as exc:
        raise ApiError(403, "forbidden", f"Dataverse refused to read the contract: {exc.message}") from exc
    if loaded is None:
        raise ApiError(404, "not_found", f"billing contract {contract_id} does not exist",
                       {"billing_contract_id": contract_id})
    return loaded


def _draft(loaded: LoadedContract, cycle: str | None, as_of: date, cycle_range: int) -> InvoiceDraft:
    try:
        return build_draft(loaded, cycle, as_of, cycle_range)
    except EngineError as exc:
        raise _engine_error(exc) from exc
    except (ValueError, OverflowError) as exc:  # dates beyond the calendar (cycles near year 9999)
        raise ApiError(422, "out_of_range", f"the cycle's dates are out of the supported range: {exc}",
                       {"cycle": cycle}) from exc


def build_draft(loaded: LoadedContract, cycle: str | None, as_of: date, cycle_range: int) -> InvoiceDraft:
    """The invoice of `cycle` (None: the default; "change-log:<A>": a change log as of A)."""
    change_log_as_of = parse_change_log_key(cycle)
    if change_log_as_of is not None:
        return build_change_log(loaded.data, change_log_as_of, today_utc())
    return build_invoice(loaded.data, cycle, as_of, cycle_range)


def contract_cycles(client: "DataverseClient", contract_id: str, as_of: date | None = None,
                    cycle_range: int = 2) -> dict[str, Any]:
    """`{header, cycles, default}` of a contract (docs/interfaces.md)."""
    loaded = _load(client, contract_id)
    try:
        listing = list_cycles(loaded.data, as_of or today_utc(), cycle_range)
    except EngineError as exc:
        raise _engine_error(exc) from exc
    return {"header": contract_header(loaded.data.contract), **listing.as_json()}


def preview_body(loaded: LoadedContract, draft: InvoiceDraft) -> dict[str, Any]:
    """The preview JSON of a draft, with the contract header."""
    return {**preview_json(draft), "header": contract_header(loaded.data.contract)}


def preview(client: "DataverseClient", contract_id: str, cycle: str | None = None, as_of: date | None = None,
            cycle_range: int = 2) -> dict[str, Any]:
    """The invoice that would be created (writes nothing; one HTTP request to Dataverse)."""
    loaded = _load(client, contract_id)
    return preview_body(loaded, _draft(loaded, cycle, as_of or today_utc(), cycle_range))


def _answer(run_id: str, outcome: RowOutcome, **flags: bool) -> GenerateResult:
    status_code = 201 if outcome.status == "created" else 200
    return GenerateResult(status_code, {"run_id": run_id, "result": {**outcome.as_json(), "cycle": outcome.cycle}},
                          **flags)


def _replay(client: "DataverseClient", run_key: str, contract_id: str,
            cycle: str | None) -> GenerateResult | None:
    """The first answer of the same request made earlier with this run key (None: not made yet)."""
    record = find_run_by_key(client, run_key)
    if record is None:
        return None
    if (record.mode != MODE_SINGLE or len(record.rows) != 1
            or (record.rows[0].billing_contract_id, record.rows[0].cycle) != (contract_id.lower(), cycle or None)):
        raise ApiError(409, "idempotency_key_reused",
                       "this idempotency key was already used for a different request", {"run_id": record.run_id})
    outcome = outcomes_from_items(client, run_items(client, record.run_id, [0])).get(0)
    if outcome is None:
        outcome = RowOutcome(status="failed", cycle=record.rows[0].cycle, message=NOT_RECORDED)
    return _answer(record.run_id, outcome, replayed=True)


def _write_result(client: "DataverseClient", run: dict[str, Any], contract_id: str, outcome: RowOutcome,
                  correlation_id: str, schedule_failure: tuple | None = None) -> None:
    """Write the run with a Skipped/Failed run item (and the schedule's failure record)."""
    batch = Batch()
    add_result_changeset(batch, run=run, row_index=0, contract_id=contract_id, outcome=outcome,
                         correlation_id=correlation_id)
    if schedule_failure is not None:
        contract, option = schedule_failure
        add_schedule_failure(batch, contract=contract, option=option, message=outcome.message or "failed",
                             correlation_id=correlation_id)
    result = client.execute_batch(batch, continue_on_error=True)
    if result.changesets and not result.changesets[0].ok:
        raise result.changesets[0].error or DataverseError("the run could not be recorded")


def generate(client: "DataverseClient", request: GenerateRequest, *, source: str,
             run_key: str | None = None, initiating_user_id: str | None = None, correlation_id: str | None = None,
             cycle_range: int = 2) -> GenerateResult:
    """Generate one invoice (docs/billing-rules.md): at most once per `run_key`, never with post tasks.

    Raises ApiError for bad input (404 contract, 4xx cycle, 409 `stale_preview`/`no_cycle_available`).
    A 403 from Dataverse is a failed result with `privilege_error`, recorded like any failed row (run item
    Failed, schedule Error) where the user may write those.
    """
    contract_id = request.contract_id.lower()
    if run_key is not None:
        replayed = _replay(client, run_key, contract_id, request.cycle)
        if replayed is not None:
            return replayed
    run_key = run_key or str(uuid.uuid4())
    correlation_id = correlation_id or new_correlation_id()
    loaded = _load(client, contract_id)
    draft = _draft(loaded, request.cycle, request.as_of or today_utc(), cycle_range)
    if request.preview_hash is not None:
        fresh = preview_body(loaded, draft)
        if fresh["preview_hash"] != request.preview_hash:
            raise ApiError(409, "stale_preview", "the invoice changed since it was previewed; review the new preview",
                           {"preview": fresh})
    run_id = str(uuid.uuid4())
    rows = [request_row(contract_id, request.cycle)]

    def run_body(status: int, counts: tuple[int, int, int]) -> dict[str, Any]:
        return run_record(run_key=run_key, mode=MODE_SINGLE, source=source, rows=rows, status=status,
                          counts=counts, initiating_user_id=initiating_user_id, run_id=run_id)

    skip_message = None
    if draft.nothing_to_invoice:
        skip_message = NOTHING_TO_INVOICE
    elif draft.already_invoiced and (request.on_existing or ON_EXISTING_DEFAULT) == "skip":
        skip_message = f"Already invoiced ({invoice_names(draft.existing_invoices)}): skipped (on_existing=skip)"
    if skip_message is not None:
        outcome = RowOutcome(status="skipped", cycle=draft.cycle_key, existing_invoices=existing_json(draft),
                             message=skip_message)
        return _record(client, run_body(RUN_COMPLETED, (0, 1, 0)), contract_id, outcome, correlation_id,
                       run_key, run_id, cycle=request.cycle)

    batch = Batch()
    plan = add_invoice_changeset(batch, draft, run=run_body(RUN_COMPLETED, (1, 0, 0)), row_index=0,
                                 correlation_id=correlation_id)
    try:
        result = client.execute_batch(batch).changesets[0]
    except DataverseError:  # unknown whether the change set landed (e.g. the connection dropped)
        landed = _replay(client, run_key, contract_id, request.cycle)
        if landed is not None:
            return landed
        raise
    if result.ok:
        outcome = created_outcome(plan, result)
        fill_invoice_numbers(client, [outcome])
        return _answer(run_id, outcome)
    outcome = interpret_failure(client, plan, result)
    if outcome.replayed or (result.error is not None and result.error.status == 412):
        replayed = _replay(client, run_key, contract_id, request.cycle)
        if replayed is not None:
            return replayed
    if outcome.status == "skipped":
        return _record(client, run_body(RUN_COMPLETED, (0, 1, 0)), contract_id, outcome, correlation_id,
                       run_key, run_id, cycle=request.cycle)
    recorded = _record(client, run_body(RUN_COMPLETED_WITH_ERRORS, (0, 0, 1)), contract_id, outcome,
                       correlation_id, run_key, run_id, schedule_failure=(draft.contract, draft.option),
                       cycle=request.cycle)
    return replace(recorded, privilege_error=recorded.privilege_error or outcome.privilege_error)


def _record(client: "DataverseClient", run: dict[str, Any], contract_id: str, outcome: RowOutcome,
            correlation_id: str, run_key: str, run_id: str, schedule_failure: tuple | None = None, *,
            cycle: str | None) -> GenerateResult:
    """Write a skipped/failed single run; a concurrent duplicate of the same run key answers its result."""
    try:
        _write_result(client, run, contract_id, outcome, correlation_id, schedule_failure)
    except PrivilegeError:
        return _answer(run_id, RowOutcome(status="failed", cycle=outcome.cycle, message=PRIVILEGE_MESSAGE),
                       privilege_error=True)
    except DataverseError as exc:
        if exc.status == 412:
            replayed = _replay(client, run_key, contract_id, cycle)
            if replayed is not None:
                return replayed
        raise
    return _answer(run_id, outcome)
