"""One chunk of a bulk run: plan each row, write its change set through `$batch`, settle its Result.

Rows are isolated: each (contract, cycle) is its own change set (docs/billing-rules.md), so a failure fails only
its row. Change sets are packed into batches of at most 1000 operations and sent with bounded
concurrency; the connector honours `Retry-After` within the bulk retry budget. A change set that
fails with 412, or a batch that fails outright, is checked against the run items first: a replayed
write that had in fact succeeded is reported as created, never as skipped or failed.
"""
from __future__ import annotations

import logging
import math
import time
from concurrent.futures import Executor
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timezone
from typing import Iterable

from connectors.dataverse import Batch, BatchResult, ChangesetResult, DataverseClient
from connectors.dataverse.client import MAX_BATCH_OPERATIONS
from connectors.dataverse.errors import DataverseError, PreconditionFailedError
from plugin.engine import (NOTHING_TO_INVOICE, Contract, CycleOption, EngineError, InvoiceDraft, NoCycleAvailable,
                           build_change_log, parse_change_log_key)
from plugin.engine.cycles import resolve_cycle
from plugin.engine.invoice import build_for_option
from plugin.invoicing.reads import LoadedContract, load_contract, load_contracts
from plugin.runs.model import RowResult, RunRow
from plugin.runs.pacing import Pacer
from plugin.runs.store import run_items
from plugin.runs.view import outcomes_from_items
from plugin.invoicing.writes import (PlannedInvoice, RowOutcome, add_invoice_changeset, add_result_changeset,
                                     add_schedule_failure, created_outcome, existing_json, fill_invoice_numbers,
                                     interpret_failure, invoice_names, new_correlation_id)
from plugin.posttasks import TaskStatus, TaskType, planned_tasks

log = logging.getLogger(__name__)

MIN_CHANGESETS_PER_BATCH = 20
BATCH_RETRY_PAUSE_S = 2.0
CONTRACT_NOT_FOUND = "billing contract not found"


@dataclass
class RowPlan:
    """What a row will write: an invoice (`draft`), or only its Result (`outcome` known up front)."""

    row: RunRow
    correlation_id: str
    contract: Contract | None = None
    option: CycleOption | None = None
    draft: InvoiceDraft | None = None
    outcome: RowOutcome | None = None
    tasks: tuple[TaskType, ...] = ()


def plan_row(row: RunRow, loaded: LoadedContract | None, *, on_existing: str | None, as_of: date,
             cycle_range: int) -> RowPlan:
    """Decide a row from the data read at the start of its chunk (docs/billing-rules.md)."""
    plan = RowPlan(row=row, correlation_id=new_correlation_id())
    if loaded is None:
        plan.outcome = RowOutcome(status="failed", cycle=row.cycle, message=CONTRACT_NOT_FOUND)
        return plan
    plan.contract = loaded.data.contract
    change_log_as_of = parse_change_log_key(row.cycle)
    try:
        if change_log_as_of is not None:  # no option: a change log never touches a billing schedule
            draft = build_change_log(loaded.data, change_log_as_of, datetime.now(timezone.utc).date())
        else:
            plan.option = resolve_cycle(loaded.data, row.cycle, as_of, cycle_range)
            draft = build_for_option(loaded.data, plan.option, as_of)
    except NoCycleAvailable as exc:
        plan.outcome = RowOutcome(status="skipped", cycle=row.cycle, message=exc.message)
        return plan
    except EngineError as exc:
        plan.outcome = RowOutcome(status="failed", cycle=row.cycle, message=exc.message)
        return plan
    if draft.nothing_to_invoice:
        plan.outcome = RowOutcome(status="skipped", cycle=draft.cycle_key, message=NOTHING_TO_INVOICE)
    elif draft.already_invoiced and on_existing == "skip":
        plan.outcome = RowOutcome(
            status="skipped", cycle=draft.cycle_key, existing_invoices=existing_json(draft),
            message=f"Already invoiced ({invoice_names(draft.existing_invoices)}): skipped (on_existing=skip)")
    else:
        plan.draft = draft
        plan.tasks = tuple(planned_tasks(loaded.contract_row, row.trigger))
    return plan


@dataclass
class RunMemory:
    """What a run remembers across its chunks, so that every row is decided against the run's start.

    A contract's later rows are read after its earlier rows are written (a later pass), when its
    default cycle has moved on: a row without a cycle means the default *at the run's start*, and
    a row repeating an earlier row's (contract, cycle) is Skipped, never invoiced twice.
    """

    first_row: dict[tuple[str, str | None], int] = field(default_factory=dict)
    defaults: dict[str, str | None] = field(default_factory=dict)

    @classmethod
    def from_done(cls, rows: list[RunRow], outcomes: list[RowOutcome | None]) -> "RunMemory":
        """The memory of a run resumed by another process, rebuilt from the rows already answered."""
        memory = cls()
        for row, outcome in sorted(zip(rows, outcomes), key=lambda pair: pair[0].index):
            if outcome is None:
                continue
            memory.first_row.setdefault((row.billing_contract_id, outcome.cycle), row.index)
            if row.cycle is None:
                memory.defaults.setdefault(row.billing_contract_id, outcome.cycle)
        return memory

    def pin_default(self, row: RunRow, loaded: LoadedContract | None, *, as_of: date, cycle_range: int) -> RunRow:
        """The row with its cycle pinned to the contract's default as first read (rows with no cycle)."""
        if loaded is None:
            return row
        if row.billing_contract_id not in self.defaults:
            try:
                self.defaults[row.billing_contract_id] = resolve_cycle(loaded.data, None, as_of, cycle_range).key
            except EngineError:
                self.defaults[row.billing_contract_id] = None
        if row.cycle is not None:
            return row
        return replace(row, cycle=self.defaults[row.billing_contract_id])

    def duplicate_of(self, plan: RowPlan) -> RowPlan:
        """The plan itself, or Skipped "duplicate of row N" (rows counted from 1)."""
        cycle = plan.option.key if plan.option is not None else plan.row.cycle
        first = self.first_row.setdefault((plan.row.billing_contract_id, cycle), plan.row.index)
        if first == plan.row.index:
            return plan
        return RowPlan(row=plan.row, correlation_id=plan.correlation_id, contract=plan.contract,
                       outcome=RowOutcome(status="skipped", cycle=cycle, message=f"duplicate of row {first + 1}"))


def read_contracts(client: DataverseClient, ids: list[str]) -> dict[str, LoadedContract | Exception]:
    """Contracts set-based; when one cannot be read as docs/data-model.md says, the others still are (one by one)."""
    try:
        return {loaded.id: loaded for loaded in load_contracts(client, ids)}
    except EngineError:
        found: dict[str, LoadedContract | Exception] = {}
        for contract_id in ids:
            try:
                loaded = load_contract(client, contract_id)
            except (EngineError, DataverseError) as exc:
                found[contract_id] = exc
            else:
                if loaded is not None:
                    found[contract_id] = loaded
        return found


def failed_plan(row: RunRow, message: str) -> RowPlan:
    """A row that failed before anything could be decided (e.g. its contract could not be read)."""
    return RowPlan(row=row, correlation_id=new_correlation_id(),
                   outcome=RowOutcome(status="failed", cycle=row.cycle, message=message))


@dataclass
class _Unit:
    """One change set to write for a row: its invoice, its Result only, or its schedule's failure."""

    kind: str                       # "invoice" | "result" | "schedule"
    plan: RowPlan
    outcome: RowOutcome | None = None
    planned: PlannedInvoice | None = None
    result: ChangesetResult | None = None
    error: DataverseError | None = None   # the batch (or the unit itself) failed outright

    @property
    def tag(self) -> tuple[str, int]:
        return self.kind, self.plan.row.index

    def add_to(self, batch: Batch, run_id: str, signing_key: str | None) -> PlannedInvoice | None:
        plan = self.plan
        if self.kind == "invoice":
            return add_invoice_changeset(batch, plan.draft, run=run_id, row_index=plan.row.index,
                                         correlation_id=plan.correlation_id, post_task_types=plan.tasks,
                                         trigger_post_tasks=plan.row.trigger, tag=self.tag, signing_key=signing_key)
        if self.kind == "result":
            add_result_changeset(batch, run=run_id, row_index=plan.row.index,
                                 contract_id=plan.contract.id if plan.contract else None, outcome=self.outcome,
                                 correlation_id=plan.correlation_id, trigger_post_tasks=plan.row.trigger,
                                 tag=self.tag)
        elif plan.contract is not None and plan.option is not None:
            add_schedule_failure(batch, contract=plan.contract, option=plan.option,
                                 message=self.outcome.message or "", correlation_id=plan.correlation_id,
                                 tag=self.tag)
        return None


def _result_units(plan: RowPlan, outcome: RowOutcome) -> list[_Unit]:
    """The writes of a row without an invoice: its run item, and the schedule's Error when it failed."""
    units = [_Unit("result", plan, outcome)]
    if outcome.status == "failed" and plan.option is not None:
        units.append(_Unit("schedule", plan, outcome))
    return units


class ChunkWriter:
    """Writes the change sets of one chunk's rows and settles every row's Result."""

    def __init__(self, client: DataverseClient, pool: Executor, run_id: str, concurrency: int,
                 signing_key: str | None = None, pacer: Pacer | None = None) -> None:
        self._client = client
        self._pool = pool
        self._run_id = run_id
        self._pacer = pacer or Pacer(max(concurrency, 1))
        self._signing_key = signing_key  # signs the post-invoicing task rows

    # -- sending --------------------------------------------------------------------------------

    def _pack(self, units: list[_Unit]) -> list[tuple[Batch, list[_Unit]]]:
        per_batch = max(MIN_CHANGESETS_PER_BATCH, math.ceil(len(units) / self._pacer.concurrency))
        max_ops = min(MAX_BATCH_OPERATIONS, self._pacer.batch_ops())
        packed: list[tuple[Batch, list[_Unit]]] = []
        batch, members = Batch(), []
        for unit in units:
            probe = Batch()
            unit.add_to(probe, self._run_id, self._signing_key)
            size = len(probe)
            if size == 0:
                continue
            if size > MAX_BATCH_OPERATIONS:
                unit.error = DataverseError(f"{size} writes do not fit in one $batch "
                                            f"(limit {MAX_BATCH_OPERATIONS})")
                continue
            if members and (len(batch) + size > max_ops or len(members) >= per_batch):
                packed.append((batch, members))
                batch, members = Batch(), []
            unit.planned = unit.add_to(batch, self._run_id, self._signing_key)
            members.append(unit)
        if members:
            packed.append((batch, members))
        return packed

    def _send_one(self, batch: Batch) -> BatchResult | DataverseError:
        """Send a batch; once more after a pause when it fails outright (the connector already retried).

        Throttling never counts as failing: the pacer waits it out and sends the batch again."""
        for attempt in range(2):
            try:
                with self._pacer.slot():
                    started = time.monotonic()
                    answer = self._pacer.call(self._client.execute_batch, batch, continue_on_error=True)
                    self._pacer.answered(len(batch), time.monotonic() - started)
                    return answer
            except DataverseError as exc:
                if attempt == 1:
                    return exc
                log.warning("a $batch of %d operations failed (%s); sending it once more", len(batch), exc)
                time.sleep(BATCH_RETRY_PAUSE_S)
        raise AssertionError("unreachable")

    def send(self, units: list[_Unit]) -> None:
        """Send every unit (concurrently, packed) and attach its ChangesetResult or error."""
        packed = self._pack(units)
        answers = list(self._pool.map(self._send_one, [batch for batch, _ in packed]))
        for (_, members), answer in zip(packed, answers):
            if isinstance(answer, DataverseError):
                for unit in members:
                    unit.error = answer
                continue
            by_tag = {cs.tag: cs for cs in answer.changesets}
            for unit in members:
                unit.result = by_tag.get(unit.tag)
                if unit.result is None:
                    unit.error = DataverseError("the $batch answer did not include this change set")

    # -- settling -------------------------------------------------------------------------------

    def _recorded(self, indexes: list[int]) -> dict[int, RowOutcome]:
        """The outcomes already recorded in run items for these rows (a replay that did succeed)."""
        if not indexes:
            return {}
        try:
            items = self._pacer.call(run_items, self._client, self._run_id, indexes)
            return self._pacer.call(outcomes_from_items, self._client, items)
        except DataverseError as exc:
            log.warning("could not check the run items of %d rows: %s", len(indexes), exc)
            return {}

    def write(self, plans: Iterable[RowPlan]) -> dict[int, RowResult]:
        """Write the chunk; every row's final Result (its post tasks Queued where written)."""
        plans = list(plans)
        units: list[_Unit] = []
        for plan in plans:
            units += [_Unit("invoice", plan)] if plan.draft is not None else _result_units(plan, plan.outcome)
        self.send(units)

        outcomes: dict[int, RowOutcome] = {}
        unsure: list[_Unit] = []
        follow_up: list[_Unit] = []
        for unit in units:
            index = unit.plan.row.index
            if unit.kind == "invoice":
                if unit.result is not None and unit.result.ok:
                    outcomes[index] = created_outcome(unit.planned, unit.result)
                elif unit.error is not None or isinstance(unit.result.error, PreconditionFailedError):
                    unsure.append(unit)
                else:
                    outcome = interpret_failure(self._client, unit.planned, unit.result)
                    outcomes[index] = outcome
                    follow_up += _result_units(unit.plan, outcome)
            elif unit.kind == "result":
                outcomes[index] = unit.outcome
                if unit.error is not None or (unit.result is not None and not unit.result.ok
                                              and not isinstance(unit.result.error, PreconditionFailedError)):
                    follow_up.append(_Unit("result", unit.plan, unit.outcome))

        recorded = self._recorded([u.plan.row.index for u in unsure])
        for unit in unsure:
            index = unit.plan.row.index
            if index in recorded:
                outcomes[index] = recorded[index]
                continue
            if unit.error is not None:
                outcome = RowOutcome(status="failed", cycle=unit.plan.draft.cycle_key,
                                     existing_invoices=existing_json(unit.plan.draft),
                                     message=f"Dataverse did not accept the change set: {unit.error}")
            else:
                outcome = interpret_failure(self._client, unit.planned, unit.result)
                if outcome.replayed:  # its run item exists but records no invoice: report the failure
                    outcome.status = "failed"
            outcomes[index] = outcome
            follow_up += _result_units(unit.plan, outcome)

        if follow_up:
            self.send(follow_up)
            for unit in follow_up:
                failed = unit.error or (unit.result.error if unit.result is not None and not unit.result.ok else None)
                if failed is not None and unit.kind == "result" and not isinstance(failed, PreconditionFailedError):
                    log.error("the Result of row %d could not be written: %s", unit.plan.row.index, failed)

        created = [o for o in outcomes.values() if o.status == "created"]
        try:
            self._pacer.call(fill_invoice_numbers, self._client, created)
        except DataverseError as exc:
            log.warning("could not read the numbers of %d created invoices: %s", len(created), exc)
        by_index = {plan.row.index: plan for plan in plans}
        return {index: RowResult(outcome, _queued_tasks(by_index[index], outcome))
                for index, outcome in outcomes.items()}


def _queued_tasks(plan: RowPlan, outcome: RowOutcome) -> list[dict[str, str]]:
    """The post tasks a created row's change set queued, as the Result shows them."""
    if outcome.status != "created" or not plan.tasks:
        return []
    return [{"task": TaskType(t).label, "status": TaskStatus.QUEUED.label, "message": ""} for t in plan.tasks]
