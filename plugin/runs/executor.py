"""Executing a run's rows chunk by chunk under this process's lease on the run.

A run is streamed: its rows are read (set-based, `plugin.invoicing.reads`) and written (one change
set per row through `$batch`, `plugin.runs.rows`) a chunk at a time, so memory holds one
chunk's data plus a small Result per row. The run row's counts are saved after every chunk. When
the lease is lost (another process took the run over), execution stops without writing anything
more: the other process goes on from what Dataverse holds.
"""
from __future__ import annotations

import logging
import math
import time
from concurrent.futures import Executor, Future, ThreadPoolExecutor
from dataclasses import replace
from datetime import date
from typing import Callable, Iterable, Iterator

from connectors.dataverse import DataverseClient
from connectors.dataverse.errors import DataverseError
from plugin.config import Config
from plugin.invoicing.reads import LoadedContract
from plugin.runs.lease import LeaseKeeper
from plugin.runs.model import RowResult, RunRow
from plugin.runs.pacing import Pacer
from plugin.runs.rows import ChunkWriter, RowPlan, RunMemory, failed_plan, plan_row, read_contracts
from plugin.runs.state import RunState
from plugin.runs.store import save_progress
from plugin.invoicing.single import today_utc
from plugin.invoicing.writes import RUN_RUNNING
from plugin.posttasks.signing import row_signing_key

log = logging.getLogger(__name__)

CHUNK_ROWS = 250          # rows read and written per step (memory stays bounded for 10,000-row runs)
FINAL_SAVE_ATTEMPTS = 4   # on top of the connector's own retries
SMALL_CHUNK_MIN = 10

TaskQueue = Callable[[RunState, DataverseClient, dict[int, RowResult]], None]


class LeaseLost(RuntimeError):
    """Another process took the run over: this one must write nothing more for it."""


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


class RunExecutor:
    """Executes rows of runs: plans each chunk from one set-based read, writes it, records the Result."""

    def __init__(self, config: Config, pool: Executor, queue_tasks: TaskQueue, chunk_rows: int = CHUNK_ROWS) -> None:
        self._config = config
        self._pool = pool
        self._queue_tasks = queue_tasks
        self._chunk_rows = chunk_rows
        self._signing_key = row_signing_key(config.task_signing_key)

    def execute(self, state: RunState, client: DataverseClient, rows: list[RunRow], keeper: LeaseKeeper,
                memory: RunMemory | None = None, *, final: bool = True) -> None:
        """Execute `rows` of the run (every one answered) unless the lease is lost; `final`: these are the
        run's last rows (its final status is saved and the lease released), else the run stays Running
        and the caller hands the lease on."""
        as_of = state.request.as_of or today_utc()
        lost = False
        pacer = Pacer(self._config.bulk_concurrency)
        session = getattr(client, "session", None)
        hooks = session.hooks.setdefault("response", []) if session is not None else []
        hooks.append(pacer.observe)  # the server's dop hint and every 429, the connector's retries included
        try:
            with ThreadPoolExecutor(max_workers=1, thread_name_prefix="w365-read") as reader:
                steps = list(chunks(rows, self._chunk_size(len(rows))))
                self._execute_chunks(state, client, steps, as_of, reader, keeper, memory or RunMemory(), pacer)
        except LeaseLost:
            lost = True
            log.warning("run %s: taken over by another process; this one stops", state.run_id)
        except Exception as exc:  # the run must end with every row answered, whatever happened
            log.exception("run %s stopped", state.run_id)
            state.fail_pending(f"the run stopped unexpectedly: {exc}")
        finally:
            hooks.remove(pacer.observe)
            state.add_throttled(pacer.throttled_s)
            if lost or keeper.lost.is_set():
                state.finish(RUN_RUNNING)  # not ours any more: readers go to Dataverse
            elif not final:
                self.save(client, state, RUN_RUNNING, attempts=FINAL_SAVE_ATTEMPTS)
                state.finish(RUN_RUNNING)
            else:
                status = state.final_status()
                self.save(client, state, status, attempts=FINAL_SAVE_ATTEMPTS)
                state.finish(status)
            keeper.stop(release=final)

    def save(self, client: DataverseClient, state: RunState, status: int, attempts: int = 1) -> None:
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
               memory: RunMemory, pacer: Pacer) -> list[RowPlan]:
        try:
            pacer.wait_for_pause()
            loaded = pacer.call(read_contracts, client, [row.billing_contract_id for row in chunk])
        except DataverseError as exc:
            return [failed_plan(row, f"the billing contract could not be read: {exc}") for row in chunk]
        state.set_names({cid: got.contract_row.get("w365_name") or "" for cid, got in loaded.items()
                         if isinstance(got, LoadedContract)})
        plans = []
        cycle_range = self._config.invoicing_cycle_range
        for row in chunk:
            got = loaded.get(row.billing_contract_id)
            if isinstance(got, Exception):
                plans.append(failed_plan(row, f"the billing contract could not be read: {got}"))
                continue
            pinned = memory.pin_default(row, got, as_of=as_of, cycle_range=cycle_range)
            plan = plan_row(pinned, got, on_existing=state.request.on_existing, as_of=as_of, cycle_range=cycle_range)
            plans.append(replace(plan, row=row))
        return [memory.duplicate_of(plan) for plan in plans]

    def _chunk_size(self, rows: int) -> int:
        """Full chunks for big runs (fewest requests); a small run in up to 4 steps, so its Result fills in."""
        if rows >= self._chunk_rows:
            return self._chunk_rows
        return max(SMALL_CHUNK_MIN, math.ceil(rows / 4))

    def _execute_chunks(self, state: RunState, client: DataverseClient, steps: list[tuple[int, list[RunRow]]],
                        as_of: date, reader: ThreadPoolExecutor, keeper: LeaseKeeper, memory: RunMemory,
                        pacer: Pacer) -> None:
        """Write chunk after chunk; the next chunk of the same pass is read while this one is written."""
        def read(step: int) -> Future:
            return reader.submit(self._plans, state, client, steps[step][1], as_of, memory, pacer)

        upcoming = read(0) if steps else None
        for step, (pass_no, _) in enumerate(steps):
            plans = upcoming.result()
            if keeper.lost.is_set():
                raise LeaseLost(state.run_id)
            following = step + 1 < len(steps)
            upcoming = read(step + 1) if following and steps[step + 1][0] == pass_no else None
            results = ChunkWriter(client, self._pool, state.run_id, self._config.bulk_concurrency,
                                  self._signing_key, pacer).write(plans)
            state.record(results)
            self._queue_tasks(state, client, results)
            if following:
                upcoming = upcoming or read(step + 1)
                self.save(client, state, RUN_RUNNING)
