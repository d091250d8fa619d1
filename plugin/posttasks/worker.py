"""The background worker: runs the Queued tasks of submitted invoices with retries and backoff,
and sweeps for the tasks a stopped process left Queued (`recover`, `start_recovery`)."""
from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone
from typing import Any, Callable, Iterable, Mapping, Sequence, TypeVar

from connectors.dataverse import Batch, DataverseClient
from connectors.dataverse.errors import DataverseError
from plugin.posttasks.claims import RECOVERY_GRACE_S, claim_tasks, fail_forged, queued_tasks, stranded_tasks
from plugin.posttasks.handlers import TaskSettings, attempt
from plugin.posttasks.loading import contexts_of_tasks, tasks_of_invoices
from plugin.posttasks.model import Outcome, TaskContext, TaskStatus, TransientTaskError, TaskType
from plugin.posttasks.signing import row_is_signed

TaskListener = Callable[[str, dict], None]  # (invoice id, {task, status, message}) once a task is final

T = TypeVar("T")

log = logging.getLogger(__name__)

RECOVERY_INTERVAL_S = 60.0
_MESSAGE_LIMIT = 2000
_WRITES_PER_BATCH = 500


def _utc_now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


class PostTaskWorker:
    """Runs the Queued post-invoicing tasks of invoices in background threads.

    Each submitted group of invoices is loaded set-based, its tasks claimed (`claims.claim_tasks`:
    a task another process claimed is left to it) and attempted concurrently, the transient failures
    retried with backoff until `max_attempts` (counted across processes) or `deadline_s` after
    submission, and every final status is written back to `w365_postinvoicetasks` in one `$batch`.
    `recover` hands the worker the tasks stranded Queued by a stopped process; `start_recovery`
    does so now and every `interval_s` until `shutdown`.
    """

    def __init__(self, client: DataverseClient, settings: TaskSettings, *, max_attempts: int = 4,
                 backoff_s: tuple[float, ...] = (1.0, 3.0, 9.0), deadline_s: float = 45.0,
                 concurrency: int = 4) -> None:
        self._client = client
        self._settings = settings
        self._max_attempts = max_attempts
        self._backoff_s = backoff_s
        self._deadline_s = deadline_s
        self._groups = ThreadPoolExecutor(max_workers=2, thread_name_prefix="w365-posttasks")
        self._io = ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="w365-posttask-io")
        self._busy = 0
        self._idle = threading.Condition()
        self._held: Counter[str] = Counter()  # invoice id -> groups submitted and not finished
        self._stopping = threading.Event()
        self._sweeper: threading.Thread | None = None

    def submit(self, invoice_ids: Iterable[str], on_final: TaskListener | None = None,
               client: DataverseClient | None = None) -> None:
        """Run the Queued tasks of these invoices in the background; `on_final` hears each final status.

        `client`: the connector to read and record them with (e.g. acting as the run's user).
        """
        ids = sorted(set(invoice_ids))
        if ids:
            self._start_group(ids, None, on_final, client or self._client)

    def run(self, invoice_ids: Iterable[str], client: DataverseClient | None = None) -> None:
        """Run the Queued tasks of these invoices in this thread, to their final status (a queue worker)."""
        ids = sorted(set(invoice_ids))
        if not ids:
            return
        with self._idle:
            self._busy += 1
            self._held.update(ids)
        self._run_group(ids, None, time.monotonic() + self._deadline_s, None, client or self._client)

    def recover(self, grace_s: float = RECOVERY_GRACE_S, client: DataverseClient | None = None) -> int:
        """Run the tasks left Queued for `grace_s` seconds by a stopped process (not held here); how many."""
        client = client or self._client
        key = self._settings.row_key
        if key is not None:  # rows the service did not write fail at once, whatever their age
            fail_forged(client, [row for row in queued_tasks(client) if not row_is_signed(row, key)])
        with self._idle:
            held = set(self._held)
        rows = [row for row in stranded_tasks(client, grace_s) if row["_w365_invoice_value"] not in held]
        if rows:
            self._start_group(sorted({row["_w365_invoice_value"] for row in rows}), rows, None, client)
            log.info("recovering %d stranded post-invoicing tasks", len(rows))
        return len(rows)

    def start_recovery(self, interval_s: float = RECOVERY_INTERVAL_S, grace_s: float = RECOVERY_GRACE_S) -> None:
        """`recover` now and every `interval_s` seconds in a daemon thread, until `shutdown` (once per worker)."""
        with self._idle:
            if self._sweeper is not None or self._stopping.is_set():
                return
            self._sweeper = threading.Thread(target=self._sweep, args=(interval_s, grace_s), daemon=True,
                                             name="w365-posttask-recovery")
        self._sweeper.start()

    def _sweep(self, interval_s: float, grace_s: float) -> None:
        while not self._stopping.is_set():
            try:
                self.recover(grace_s)
            except Exception:  # Dataverse away (the next sweep tries again), or shutting down
                if not self._stopping.is_set():
                    log.exception("sweeping for stranded post-invoicing tasks failed")
            self._stopping.wait(interval_s)

    def _start_group(self, ids: list[str], rows: Sequence[Mapping[str, Any]] | None, on_final: TaskListener | None,
                     client: DataverseClient) -> None:
        with self._idle:
            self._busy += 1
            self._held.update(ids)
        try:
            self._groups.submit(self._run_group, ids, rows, time.monotonic() + self._deadline_s, on_final, client)
        except BaseException:  # shut down: nothing will run, so nothing is held
            self._release(ids)
            raise

    def _release(self, ids: list[str]) -> None:
        with self._idle:
            self._busy -= 1
            self._held.subtract(ids)
            self._held += Counter()  # drops the invoices no group holds any more
            self._idle.notify_all()

    def wait_idle(self, timeout: float | None = None) -> bool:
        """Block until every submitted group is finished (True) or `timeout` passes (False)."""
        with self._idle:
            return self._idle.wait_for(lambda: self._busy == 0, timeout)

    def shutdown(self, wait: bool = True) -> None:
        """Stop sweeping and accepting work; with `wait`, finish what was submitted."""
        self._stopping.set()
        if self._sweeper is not None and wait:
            self._sweeper.join(timeout=10)  # a sweep stuck on Dataverse must not hold the shutdown
        self._groups.shutdown(wait=wait)
        self._io.shutdown(wait=wait)

    def _run_group(self, invoice_ids: list[str], rows: Sequence[Mapping[str, Any]] | None, deadline: float,
                   on_final: TaskListener | None, client: DataverseClient) -> None:
        try:
            contexts = self._claim_and_load(client, invoice_ids, rows, deadline)
            if contexts:
                final = self._run_tasks(contexts, deadline)
                try:
                    self._write(client, final, contexts)
                except DataverseError as exc:  # the tasks did end: still tell the listener
                    log.error("could not record %d post-invoicing task results: %s", len(final), exc)
                if on_final is not None:
                    for ctx in contexts:
                        outcome = final[ctx.task_id][0]
                        on_final(ctx.invoice_id, {"task": TaskType(ctx.task_type).label,
                                                  "status": outcome.status.label, "message": outcome.message})
        except Exception:  # a worker thread must never die silently
            log.exception("post-invoicing tasks of %d invoices could not be completed", len(invoice_ids))
        finally:
            self._release(invoice_ids)

    def _pause(self, round_no: int, deadline: float) -> bool:
        delay = self._backoff_s[min(round_no, len(self._backoff_s) - 1)]
        if time.monotonic() + delay >= deadline:
            return False
        time.sleep(delay)
        return True

    def _claim_and_load(self, client: DataverseClient, invoice_ids: list[str],
                        rows: Sequence[Mapping[str, Any]] | None, deadline: float) -> list[TaskContext]:
        """Claim the group's tasks and read what they need: the swept `rows`, else the invoices' Queued
        tasks never claimed (a claimed one belongs to whoever claimed it)."""
        if rows is None:
            queued = self._retrying(lambda: tasks_of_invoices(client, invoice_ids, queued_only=True), deadline)
            rows = [row for row in queued if not row.get("w365_attempts")]
        rows = self._only_signed(client, rows)
        # a retried claim that had gone through answers 412: the task waits for a sweep, never runs twice
        claimed = self._retrying(lambda: claim_tasks(client, rows), deadline) if rows else []
        return self._retrying(lambda: contexts_of_tasks(client, claimed), deadline)

    def _only_signed(self, client: DataverseClient, rows: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
        """The rows this service wrote; any other is set Failed, "not created by this service"."""
        key = self._settings.row_key
        if key is None:
            return list(rows)
        signed = [row for row in rows if row_is_signed(row, key)]
        forged = [row for row in rows if not row_is_signed(row, key)]
        if forged:
            fail_forged(client, forged)
        return signed

    def _retrying(self, read: Callable[[], T], deadline: float) -> T:
        round_no = 0
        while True:
            try:
                return read()
            except DataverseError as exc:
                log.warning("loading post-invoicing tasks failed (%s); retrying", exc)
                if not self._pause(round_no, deadline):
                    raise
                round_no += 1

    def _run_tasks(self, contexts: list[TaskContext], deadline: float) -> dict[str, tuple[Outcome, int]]:
        attempts = {ctx.task_id: ctx.attempts for ctx in contexts}
        # attempted `max_attempts` times already by processes that stopped before recording an end
        final: dict[str, tuple[Outcome, int]] = {
            ctx.task_id: (Outcome(TaskStatus.FAILED, f"gave up after {ctx.attempts} attempts: "
                                  "interrupted before it could finish"), ctx.attempts)
            for ctx in contexts if ctx.attempts >= self._max_attempts}
        remaining, round_no = [ctx for ctx in contexts if ctx.task_id not in final], 0
        while remaining:
            futures = [(ctx, self._io.submit(attempt, ctx, self._settings)) for ctx in remaining]
            retry: list[TaskContext] = []
            last_error: dict[str, str] = {}
            for ctx, future in futures:
                attempts[ctx.task_id] += 1
                try:
                    final[ctx.task_id] = (future.result(), attempts[ctx.task_id])
                except TransientTaskError as exc:
                    last_error[ctx.task_id] = str(exc)
                    retry.append(ctx)
                except Exception as exc:  # a bug in a handler must still end the task
                    log.exception("post-invoicing task %s crashed", ctx.task_id)
                    final[ctx.task_id] = (Outcome(TaskStatus.FAILED, f"internal error: {exc}"),
                                          attempts[ctx.task_id])
            exhausted = [ctx for ctx in retry if attempts[ctx.task_id] >= self._max_attempts]
            retry = [ctx for ctx in retry if attempts[ctx.task_id] < self._max_attempts]
            if retry and not self._pause(round_no, deadline):
                exhausted, retry = exhausted + retry, []
            for ctx in exhausted:
                n = attempts[ctx.task_id]
                message = f"gave up after {n} attempt{'s' if n > 1 else ''}: {last_error[ctx.task_id]}"
                final[ctx.task_id] = (Outcome(TaskStatus.FAILED, message), n)
            remaining, round_no = retry, round_no + 1
        return final

    def _write(self, client: DataverseClient, final: dict[str, tuple[Outcome, int]],
               contexts: list[TaskContext]) -> None:
        completed = _utc_now()
        ids = [ctx.task_id for ctx in contexts if ctx.task_id in final]
        for start in range(0, len(ids), _WRITES_PER_BATCH):
            batch = Batch()
            for task_id in ids[start:start + _WRITES_PER_BATCH]:
                outcome, attempts = final[task_id]
                batch.changeset(tag=task_id).update("w365_postinvoicetasks", task_id, {
                    "w365_status": int(outcome.status), "w365_attempts": attempts,
                    "w365_message": outcome.message[:_MESSAGE_LIMIT], "w365_completedon": completed,
                })
            result = client.execute_batch(batch, continue_on_error=True)
            for changeset in result.changesets:
                if not changeset.ok:
                    log.error("could not record post-invoicing task %s: %s", changeset.tag, changeset.error)
