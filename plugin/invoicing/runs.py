"""Bulk invoice runs (DESIGN §4.7, §5, §7, §13): start, execute chunk by chunk, view, wait, retry.

A run is streamed: its rows are read (set-based, `plugin.invoicing.reads`) and written (one change
set per row through `$batch`, `plugin.invoicing.run_rows`) a chunk at a time, so memory holds one
chunk's data plus a small Result per row. The run row and its run items in Dataverse are kept
current after every chunk, so `GET /invoice-runs/{id}` can answer from Dataverse alone; this
process also keeps an in-memory view of its own runs for cheap progress reads.
"""
from __future__ import annotations

import logging
import math
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import replace
from datetime import date
from typing import Callable, Iterable, Iterator

from connectors.dataverse import Batch, DataverseClient
from connectors.dataverse.errors import DataverseError
from plugin.config import Config
from plugin.invoicing.reads import LoadedContract
from plugin.invoicing.run_model import RowResult, RunRequest, RunRow, RunView
from plugin.invoicing.run_rows import (ChunkWriter, RowPlan, RunMemory, failed_plan, plan_row,
                                      read_contracts)
from plugin.invoicing.run_state import RunRegistry, RunState
from plugin.invoicing.run_store import (RunRecord, claim_for_retry, find_run, open_run, run_items,
                                        save_progress, user_of_object_id)
from plugin.invoicing.run_view import load_view
from plugin.invoicing.single import today_utc
from plugin.invoicing.writes import MODE_SINGLE, RESULT_FAILED, RUN_RUNNING
from plugin.posttasks.handlers import TaskSettings
from plugin.posttasks.worker import PostTaskWorker

log = logging.getLogger(__name__)

CHUNK_ROWS = 250          # rows read and written per step (memory stays bounded for 10,000-row runs)
POLL_INTERVAL_S = 1.0     # waiting for a run executed by another process (each look reads Dataverse)
FINAL_SAVE_ATTEMPTS = 4   # on top of the connector's own retries
SMALL_CHUNK_MIN = 10


class RunNotFound(LookupError):
    """No run has this id or run key."""


class RunConflict(RuntimeError):
    """The run is running (or being retried) already."""


class RunKeyReused(RunConflict):
    """The run key (Idempotency-Key, RunId) already names a run of different rows."""


def _same_rows(a: Iterable[RunRow], b: Iterable[RunRow]) -> bool:
    def shape(rows: Iterable[RunRow]) -> list[tuple]:
        return [(r.billing_contract_id, r.cycle, r.trigger) for r in rows]
    return shape(a) == shape(b)


def chunks(rows: Iterable[RunRow], size: int) -> Iterator[tuple[int, list[RunRow]]]:
    """(pass, chunk) of at most `size` rows; a contract's next row goes to a later pass, so it is
    read only after its previous row is written. Within a pass every contract appears once."""
    pending, pass_no = list(rows), 0
    while pending:
        seen: set[str] = set()
        now, later = [], []
        for row in pending:
            (later if row.billing_contract_id in seen else now).append(row)
            seen.add(row.billing_contract_id)
        for start in range(0, len(now), size):
            yield pass_no, now[start:start + size]
        pending, pass_no = later, pass_no + 1


class RunService:
    """Starts and executes bulk runs, answers their state, retries their failed rows."""

    def __init__(self, client: DataverseClient, config: Config, *, worker: PostTaskWorker | None = None,
                 chunk_rows: int = CHUNK_ROWS) -> None:
        self._client = client.with_options(retry_budget_s=config.bulk_retry_budget_s)
        self._config = config
        self._chunk_rows = chunk_rows
        self.registry = RunRegistry()
        self._threads: set[threading.Thread] = set()
        self._threads_lock = threading.Lock()
        self._pool = ThreadPoolExecutor(max_workers=max(config.bulk_concurrency, 1), thread_name_prefix="w365-batch")
        self._worker = worker
        self._worker_lock = threading.Lock()

    @property
    def worker(self) -> PostTaskWorker:
        """The post-invoicing task worker (started on first use)."""
        with self._worker_lock:
            if self._worker is None:
                self._worker = PostTaskWorker(self._client, TaskSettings.from_config(self._config))
            return self._worker

    def start_task_recovery(self) -> None:
        """Start the worker's sweep for stranded post-invoicing tasks, when the config asks for it."""
        if self._config.task_recovery_interval_s:
            self.worker.start_recovery(self._config.task_recovery_interval_s, self._config.task_recovery_grace_s)

    def client_for(self, request: RunRequest) -> DataverseClient:
        """The connector acting for the request's user, with the long bulk retry budget."""
        return self._client.with_options(caller_id=request.caller_id, caller_object_id=request.caller_object_id)

    # -- starting -------------------------------------------------------------------------------

    def start(self, request: RunRequest, *, background: bool = True,
              on_progress: Callable[[int, int], None] | None = None) -> str:
        """Open the run (idempotent on its run key) and execute it; its run id.

        A replayed run key starts nothing and returns the existing run's id (RunKeyReused when it
        named different rows).
        """
        client = self.client_for(request)
        if request.caller_object_id and not request.initiating_user:
            request = replace(request, initiating_user_id=user_of_object_id(client, request.caller_object_id))
        record, owner = open_run(client, request)
        if not owner:
            if record.mode == MODE_SINGLE or (request.rows and not _same_rows(request.rows, record.rows)):
                raise RunKeyReused(f"the key {record.run_key!r} was already used for a different request")
            return record.run_id
        request = replace(request, rows=record.rows, run_key=record.run_key)
        state = RunState(record.run_id, record.run_key, request)
        if on_progress is not None:
            state.add_listener(on_progress)
        self.registry.add(state)
        self._launch(state, client, state.rows, background)
        return record.run_id

    def _launch(self, state: RunState, client: DataverseClient, rows: list[RunRow], background: bool) -> None:
        if not background:
            self._execute(state, client, rows)
            return
        thread = threading.Thread(target=self._execute_in_thread, args=(state, client, rows), daemon=True,
                                  name=f"w365-run-{state.run_id[:8]}")
        with self._threads_lock:
            self._threads.add(thread)
        thread.start()

    def _execute_in_thread(self, state: RunState, client: DataverseClient, rows: list[RunRow]) -> None:
        try:
            self._execute(state, client, rows)
        finally:
            with self._threads_lock:
                self._threads.discard(threading.current_thread())

    # -- executing ------------------------------------------------------------------------------

    def _execute(self, state: RunState, client: DataverseClient, rows: list[RunRow]) -> None:
        as_of = state.request.as_of or today_utc()
        try:
            with ThreadPoolExecutor(max_workers=1, thread_name_prefix="w365-read") as reader:
                steps = list(chunks(rows, self._chunk_size(len(rows))))
                self._execute_chunks(state, client, steps, as_of, reader)
        except Exception as exc:  # the run must end with every row answered, whatever happened
            log.exception("run %s stopped", state.run_id)
            state.fail_pending(f"the run stopped unexpectedly: {exc}")
        finally:
            status = state.final_status()
            self._save(client, state, status, attempts=FINAL_SAVE_ATTEMPTS)
            state.finish(status)

    def _save(self, client: DataverseClient, state: RunState, status: int, attempts: int = 1) -> None:
        """Record counts and status; the final status is worth a few more tries (readers poll it)."""
        for attempt in range(attempts):
            try:
                save_progress(client, state.run_id, state.view().counts(), status)
                return
            except DataverseError as exc:
                log.error("could not record the progress of run %s: %s", state.run_id, exc)
                if attempt + 1 < attempts:
                    time.sleep(0.5 * (attempt + 1))

    def _plans(self, state: RunState, client: DataverseClient, chunk: list[RunRow], as_of: date,
               memory: RunMemory) -> list[RowPlan]:
        try:
            loaded = read_contracts(client, [row.billing_contract_id for row in chunk])
        except DataverseError as exc:
            return [failed_plan(row, f"the billing contract could not be read: {exc}") for row in chunk]
        state.set_names({cid: got.contract_row.get("w365_name") or "" for cid, got in loaded.items()
                         if isinstance(got, LoadedContract)})
        plans = []
        for row in chunk:
            got = loaded.get(row.billing_contract_id)
            if isinstance(got, Exception):
                plans.append(failed_plan(row, f"the billing contract could not be read: {got}"))
            else:
                cycle_range = self._config.invoicing_cycle_range
                pinned = memory.pin_default(row, got, as_of=as_of, cycle_range=cycle_range)
                plan = plan_row(pinned, got, on_existing=state.request.on_existing, as_of=as_of,
                                cycle_range=cycle_range)
                plans.append(replace(plan, row=row))
        return [memory.duplicate_of(plan) for plan in plans]

    def _chunk_size(self, rows: int) -> int:
        """Full chunks for big runs (fewest requests); a small run in up to 4 steps, so its Result fills in."""
        if rows >= self._chunk_rows:
            return self._chunk_rows
        return max(SMALL_CHUNK_MIN, math.ceil(rows / 4))

    def _execute_chunks(self, state: RunState, client: DataverseClient, steps: list[tuple[int, list[RunRow]]],
                        as_of: date, reader: ThreadPoolExecutor) -> None:
        """Write chunk after chunk; the next chunk of the same pass is read while this one is written."""
        memory = RunMemory()  # read by one reader thread, chunk after chunk

        def read(step: int) -> Future:
            return reader.submit(self._plans, state, client, steps[step][1], as_of, memory)

        upcoming = read(0) if steps else None
        for step, (pass_no, _) in enumerate(steps):
            plans = upcoming.result()
            following = step + 1 < len(steps)
            upcoming = read(step + 1) if following and steps[step + 1][0] == pass_no else None
            results = ChunkWriter(client, self._pool, state.run_id, self._config.bulk_concurrency).write(plans)
            state.record(results)
            self._queue_tasks(state, client, results)
            if following:
                upcoming = upcoming or read(step + 1)
                self._save(client, state, RUN_RUNNING)

    def _queue_tasks(self, state: RunState, client: DataverseClient, results: dict[int, RowResult]) -> None:
        rows_of = {str(r.outcome.invoice["id"]).lower(): index for index, r in results.items()
                   if r.post_tasks and r.outcome and r.outcome.invoice and r.outcome.invoice.get("id")}
        if rows_of:
            self.worker.submit(rows_of, client=client,
                               on_final=lambda invoice_id, task: state.update_task(rows_of[invoice_id], task))

    # -- reading --------------------------------------------------------------------------------

    def view(self, run_id_or_key: str, client: DataverseClient | None = None) -> RunView | None:
        """The run as the API shows it: this process's live view, else read through `client` (default: ours)."""
        state = self.registry.get(run_id_or_key)
        if state is not None:
            return state.view()
        client = client or self._client
        record = find_run(client, run_id_or_key)
        return load_view(client, record) if record is not None else None

    def wait(self, run_id: str, timeout: float, client: DataverseClient | None = None) -> RunView | None:
        """The run once finished, or as it is when `timeout` seconds have passed."""
        state = self.registry.get(run_id)
        if state is not None:
            state.wait(timeout)
            return state.view()
        deadline = time.monotonic() + timeout
        while True:
            view = self.view(run_id, client)
            remaining = deadline - time.monotonic()
            if view is None or view.finished or remaining <= 0:
                return view
            time.sleep(min(POLL_INTERVAL_S, remaining))

    # -- retrying -------------------------------------------------------------------------------

    def retry(self, run_id: str, *, caller_id: str | None = None, caller_object_id: str | None = None,
              background: bool = True, on_progress: Callable[[int, int], None] | None = None) -> str:
        """Re-run only the failed rows of a finished run, under the same run id."""
        record = find_run(self._client, run_id)
        if record is None:
            raise RunNotFound(run_id)
        state = self.registry.get(record.run_id)
        running = not state.finished if state is not None else record.status in (None, RUN_RUNNING)
        if running:
            raise RunConflict("the run is still running")
        view = state.view() if state is not None else load_view(self._client, record)
        failed = [i for i, result in enumerate(view.results) if result.status == "failed"]
        if not failed:
            return record.run_id
        base = state.request if state is not None else RunRequest(rows=record.rows, source=record.source or "api",
                                                                   run_key=record.run_key)
        # the retry acts as whoever asked for it, not as the run's first user
        request = replace(base, rows=tuple(view.rows), caller_id=caller_id, caller_object_id=caller_object_id)
        client = self.client_for(request)
        if not claim_for_retry(client, record):
            raise RunConflict("the run is being retried already")
        self._drop_failed_items(client, record, failed)
        results = [RowResult() if i in failed else result for i, result in enumerate(view.results)]
        retry_state = RunState(record.run_id, record.run_key, request, results=results, names=view.names)
        if on_progress is not None:
            retry_state.add_listener(on_progress)
        self.registry.add(retry_state)
        rows = [replace(view.rows[i], cycle=view.cycle_of(i)) for i in failed]
        self._launch(retry_state, client, rows, background)
        return record.run_id

    def _drop_failed_items(self, client: DataverseClient, record: RunRecord, indexes: list[int]) -> None:
        """Delete the Failed run items of rows about to be retried (their new result replaces them)."""
        items = [i for i in run_items(client, record.run_id, indexes) if i.get("w365_result") == RESULT_FAILED]
        for start in range(0, len(items), 500):
            batch = Batch()
            for item in items[start:start + 500]:
                batch.changeset(tag=item["w365_invoicerunitemid"]).delete("w365_invoicerunitems",
                                                                          item["w365_invoicerunitemid"])
            client.execute_batch(batch, continue_on_error=True)

    def close(self) -> None:
        """Let runs in progress finish, then stop the batch pool and the task worker."""
        while True:
            with self._threads_lock:
                running = list(self._threads)
            if not running:
                break
            for thread in running:
                thread.join()
        self._pool.shutdown(wait=True)
        if self._worker is not None:
            self._worker.shutdown(wait=True)
