"""Bulk invoice runs: start, execute (`run_executor`), view, wait, retry, and resume after a death.

The run row and its run items in Dataverse are kept current after every chunk, so
`GET /invoice-runs/{id}` can answer from Dataverse alone; this process also keeps an in-memory view
of the runs it executes. The process executing a run holds a lease on its row (`run_lease`): when
the process dies, any other process of the service — its sweep, or a reader of the run — takes the
run over once the lease has expired and resumes it from Dataverse. Rows whose change set had landed
are found Created by their run item and are never made twice.
"""
from __future__ import annotations

import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from typing import Callable, Iterable, Protocol

from connectors.dataverse import Batch, DataverseClient
from connectors.dataverse.errors import DataverseError, PreconditionFailedError
from plugin.config import Config
from plugin.runs.executor import RunExecutor
from plugin.runs.lease import (HANDOFF, LeaseKeeper, handoff_columns, lease_columns, orphaned_runs,
                               process_owner, read_lease, take_over)
from plugin.runs.model import RowResult, RunRequest, RunRow, RunView
from plugin.runs.rows import RunMemory
from plugin.runs.state import RunRegistry, RunState
from plugin.runs.store import (RunRecord, claim_for_retry, find_run, open_run, run_items,
                                        user_of_object_id)
from plugin.runs.view import load_view, recorded_outcomes
from plugin.invoicing.writes import MODE_SINGLE, RESULT_FAILED, RUN_RUNNING
from plugin.posttasks.handlers import TaskSettings
from plugin.posttasks.worker import PostTaskWorker

log = logging.getLogger(__name__)

POLL_INTERVAL_S = 1.0     # waiting for a run executed by another process (each look reads Dataverse)


class RunQueue(Protocol):
    """Where runs go when a distributed engine executes them (`run_tasks`: Celery)."""

    def run_chunk(self, run_id: str) -> None:
        """Queue the execution of the run's next chunk."""

    def post_tasks(self, invoice_ids: list[str], caller_id: str | None) -> None:
        """Queue the post-invoicing tasks of these invoices."""


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


MAX_BATCH_THREADS = 16


class RunService:
    """Starts and executes bulk runs, answers their state, retries their failed rows, resumes dead runs."""

    def __init__(self, client: DataverseClient, config: Config, *, worker: PostTaskWorker | None = None,
                 chunk_rows: int | None = None, owner: str | None = None, queue: RunQueue | None = None) -> None:
        self._client = client.with_options(retry_budget_s=config.bulk_retry_budget_s)
        self._config = config
        self.owner = owner or process_owner()
        self.registry = RunRegistry()
        self._threads: set[threading.Thread] = set()
        self._keepers: dict[str, LeaseKeeper] = {}
        self._threads_lock = threading.Lock()
        # the pacer bounds what is in flight (from the server's dop hint); the pool only must not be the bound
        self._pool = ThreadPoolExecutor(max_workers=max(config.bulk_concurrency, MAX_BATCH_THREADS),
                                        thread_name_prefix="w365-batch")
        chunk_rows = chunk_rows or config.run_chunk_rows
        self._executor = RunExecutor(config, self._pool, self._queue_tasks, chunk_rows)
        self._worker = worker
        self._worker_lock = threading.Lock()
        self._closing = threading.Event()
        self._sweeper: threading.Thread | None = None
        self._chunk_rows = chunk_rows
        # distributed engine: runs are executed by queue workers a chunk per task, never in this process
        self.queue = queue

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

    def start_run_sweep(self) -> None:
        """Sweep now and every lease length for runs whose executing process died (config `run_sweep`)."""
        if not self._config.run_sweep or self._sweeper is not None:
            return
        self._sweeper = threading.Thread(target=self._sweep_loop, daemon=True, name="w365-run-sweep")
        self._sweeper.start()

    def client_for(self, request: RunRequest) -> DataverseClient:
        """The connector acting for the request's user, with the long bulk retry budget."""
        return self._client.with_options(caller_id=request.caller_id, caller_object_id=request.caller_object_id)

    def client_for_user(self, caller_id: str | None) -> DataverseClient:
        """The connector acting as a systemuser (None: the application user)."""
        return self._client.with_options(caller_id=caller_id)

    def _lease(self) -> dict:
        if self.queue is not None:
            return handoff_columns(self._config.run_lease_s)  # the queue worker taking its task holds it
        return lease_columns(self.owner, self._config.run_lease_s)

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
        record, owner = open_run(client, request, self._lease())
        if not owner:
            if record.mode == MODE_SINGLE or (request.rows and not _same_rows(request.rows, record.rows)):
                raise RunKeyReused(f"the key {record.run_key!r} was already used for a different request")
            self.resume_if_orphaned(record)
            return record.run_id
        if self.queue is not None:
            self.queue.run_chunk(record.run_id)
            return record.run_id
        request = replace(request, rows=record.rows, run_key=record.run_key)
        state = RunState(record.run_id, record.run_key, request)
        if on_progress is not None:
            state.add_listener(on_progress)
        self.registry.add(state)
        self._launch(state, client, state.rows, background)
        return record.run_id

    def _launch(self, state: RunState, client: DataverseClient, rows: list[RunRow], background: bool,
                memory: RunMemory | None = None, final: bool = True) -> None:
        keeper = LeaseKeeper(client, state.run_id, self.owner, self._config.run_lease_s).start()
        with self._threads_lock:
            self._keepers[state.run_id] = keeper
        if not background:
            self._execute(state, client, rows, keeper, memory, final)
            return
        thread = threading.Thread(target=self._execute, args=(state, client, rows, keeper, memory, final),
                                  daemon=True, name=f"w365-run-{state.run_id[:8]}")
        with self._threads_lock:
            self._threads.add(thread)
        thread.start()

    def _execute(self, state: RunState, client: DataverseClient, rows: list[RunRow], keeper: LeaseKeeper,
                 memory: RunMemory | None, final: bool = True) -> None:
        try:
            self._executor.execute(state, client, rows, keeper, memory, final=final)
        finally:
            with self._threads_lock:
                self._threads.discard(threading.current_thread())
                if self._keepers.get(state.run_id) is keeper:
                    del self._keepers[state.run_id]
            if keeper.lost.is_set() or not final:
                self.registry.remove(state.run_id)

    def _queue_tasks(self, state: RunState, client: DataverseClient, results: dict[int, RowResult]) -> None:
        rows_of = {str(r.outcome.invoice["id"]).lower(): index for index, r in results.items()
                   if r.post_tasks and r.outcome and r.outcome.invoice and r.outcome.invoice.get("id")}
        if rows_of and self.queue is not None:
            self.queue.post_tasks(sorted(rows_of), state.request.caller_id)
        elif rows_of:
            self.worker.submit(rows_of, client=client,
                               on_final=lambda invoice_id, task: state.update_task(rows_of[invoice_id], task))

    # -- resuming -------------------------------------------------------------------------------

    def resume_if_orphaned(self, record: RunRecord, *, background: bool = True) -> bool:
        """Take over a Running run whose lease expired (one winner) and resume it; True when this did."""
        lease = record.lease
        if lease is None or not lease.orphaned(self._config.run_lease_s) or self._closing.is_set():
            return False
        if self.queue is not None:  # distributed engine: hand it to the queue once (one winner); a worker resumes
            if take_over(self._client, lease, HANDOFF, self._config.run_lease_s):
                self.queue.run_chunk(record.run_id)
            return False
        if not take_over(self._client, lease, self.owner, self._config.run_lease_s):
            return False
        log.warning("run %s: its process stopped (lease of %s expired); resuming it here",
                    record.run_id, lease.owner or "nobody")
        self.resume(record, background=background)
        return True

    def resume(self, record: RunRecord, *, background: bool = True, max_rows: int | None = None) -> bool:
        """Execute the rows of a run that have no final run item yet (this process holds its lease);
        `max_rows`: only that many (one chunk of a queue worker). True when no row is left after them."""
        request = RunRequest(rows=record.rows, source=record.source or "api", on_existing=record.on_existing,
                             as_of=record.as_of, run_key=record.run_key, caller_id=record.initiating_user_id)
        client = self.client_for(request)
        rows = list(record.rows)
        if max_rows is None:  # this process goes on serving the run's view: read it whole, once
            view = load_view(client, record)
            results, names = view.results, view.names
        else:  # a queue worker's chunk: the run items alone say what is done (no invoice reads per chunk)
            done = recorded_outcomes(client, record.run_id)
            results, names = [RowResult(done.get(row.index)) for row in rows], {}
        pending = [row for row, result in zip(rows, results) if result.outcome is None]
        last = max_rows is None or len(pending) <= max_rows
        memory = RunMemory.from_done(rows, [result.outcome for result in results])
        state = RunState(record.run_id, record.run_key, request, results=results, names=names)
        self.registry.add(state)
        self._launch(state, client, pending[:max_rows] if max_rows else pending, background, memory, final=last)
        return last

    def run_chunk(self, run_id: str) -> bool:
        """A queue worker's task: take the run (if nobody holds it), execute its next chunk, release it and
        queue the next task. True when this call executed rows."""
        record = find_run(self._client, run_id)
        if record is None or record.status != RUN_RUNNING or record.lease is None:
            return False
        if not take_over(self._client, record.lease, self.owner, self._config.run_lease_s, handoff=True):
            return False  # held by a live worker (or finished meanwhile)
        last = self.resume(record, background=False, max_rows=self._chunk_rows)
        if not last and self._hand_off(record.run_id) and self.queue is not None:
            self.queue.run_chunk(record.run_id)
        return True

    def _hand_off(self, run_id: str) -> bool:
        """Pass this process's lease on to the queue (If-Match); False when it was not ours any more."""
        lease = read_lease(self._client, run_id)
        if lease is None or lease.owner != self.owner or not lease.running:
            return False
        try:
            self._client.update("w365_invoiceruns", run_id, handoff_columns(self._config.run_lease_s),
                                etag=lease.etag)
        except PreconditionFailedError:
            return False
        return True

    def sweep(self) -> int:
        """Take over and resume every run whose executing process died; how many this process took."""
        taken = 0
        for lease in orphaned_runs(self._client, self._config.run_lease_s):
            record = find_run(self._client, lease.run_id)
            if record is not None and self.resume_if_orphaned(record):
                taken += 1
        return taken

    def _sweep_loop(self) -> None:
        while not self._closing.is_set():
            try:
                self.sweep()
            except DataverseError as exc:
                log.warning("the sweep for interrupted runs could not read Dataverse: %s", exc)
            self._closing.wait(self._config.run_lease_s)

    # -- reading --------------------------------------------------------------------------------

    def view(self, run_id_or_key: str, client: DataverseClient | None = None) -> RunView | None:
        """The run as the API shows it: this process's live view, else read through `client` (default: ours).

        A Running run whose process died is taken over and resumed first, never shown as running forever."""
        state = self.registry.get(run_id_or_key)
        if state is not None and not (state.finished and state.status == RUN_RUNNING):
            return state.view()
        client = client or self._client
        record = find_run(client, run_id_or_key)
        if record is None:
            return None
        if self.resume_if_orphaned(record):
            resumed = self.registry.get(record.run_id)
            if resumed is not None:
                return resumed.view()
        return load_view(client, record)

    def wait(self, run_id: str, timeout: float, client: DataverseClient | None = None) -> RunView | None:
        """The run once finished, or as it is when `timeout` seconds have passed."""
        deadline = time.monotonic() + timeout
        while True:
            state = self.registry.get(run_id)
            if state is not None and not (state.finished and state.status == RUN_RUNNING):
                state.wait(max(deadline - time.monotonic(), 0))
                return state.view()
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
        if state is not None and state.finished and state.status == RUN_RUNNING:
            state = None  # taken over by another process: Dataverse knows better
        running = not state.finished if state is not None else record.status in (None, RUN_RUNNING)
        if running:
            if state is None and self.resume_if_orphaned(record):
                raise RunConflict("the run had stopped with its process; it has been resumed and is running again")
            raise RunConflict("the run is still running")
        view = state.view() if state is not None else load_view(self._client, record)
        failed = [i for i, result in enumerate(view.results) if result.status == "failed"]
        if not failed:
            return record.run_id
        base = state.request if state is not None else RunRequest(
            rows=record.rows, source=record.source or "api", run_key=record.run_key,
            on_existing=record.on_existing, as_of=record.as_of)
        # the retry acts as whoever asked for it, not as the run's first user
        request = replace(base, rows=tuple(view.rows), caller_id=caller_id, caller_object_id=caller_object_id)
        client = self.client_for(request)
        if not claim_for_retry(client, record, self._lease()):
            raise RunConflict("the run is being retried already")
        self._drop_failed_items(client, record, failed)
        if self.queue is not None:
            self.registry.remove(record.run_id)
            self.queue.run_chunk(record.run_id)
            return record.run_id
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

    # -- stopping -------------------------------------------------------------------------------

    def close(self, timeout: float | None = None) -> bool:
        """Let runs in progress finish (within `timeout` seconds, None: no limit), then stop the pools.

        Runs still going when the time is up have their lease released, so that another process
        resumes them at once. True when every run finished."""
        self._closing.set()
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            with self._threads_lock:
                running = list(self._threads)
            if not running:
                break
            for thread in running:
                thread.join(None if deadline is None else max(deadline - time.monotonic(), 0))
            if deadline is not None and time.monotonic() >= deadline:
                break
        with self._threads_lock:
            unfinished = list(self._keepers.values())
        for keeper in unfinished:
            log.warning("run %s did not finish before shutdown; releasing it for another process", keeper.run_id)
            keeper.stop(release=False)
            keeper.release()
            keeper.lost.set()  # this process writes nothing more for it: the next chunk is not started
        self._pool.shutdown(wait=not unfinished)
        if self._worker is not None:
            self._worker.shutdown(wait=not unfinished)
        return not unfinished
