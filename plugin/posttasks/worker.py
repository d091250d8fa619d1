"""The background worker: runs the Queued tasks of submitted invoices with retries and backoff."""
from __future__ import annotations

import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone
from typing import Callable, Iterable

from connectors.dataverse import Batch, DataverseClient
from connectors.dataverse.errors import DataverseError
from plugin.posttasks.handlers import TaskSettings, attempt
from plugin.posttasks.loading import load_contexts
from plugin.posttasks.model import Outcome, TaskContext, TaskStatus, TransientTaskError, TaskType

TaskListener = Callable[[str, dict], None]  # (invoice id, {task, status, message}) once a task is final

log = logging.getLogger(__name__)

_MESSAGE_LIMIT = 2000
_WRITES_PER_BATCH = 500


def _utc_now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


class PostTaskWorker:
    """Runs the Queued post-invoicing tasks of invoices in background threads.

    Each submitted group of invoices is loaded set-based, its tasks are attempted concurrently, the
    transient failures retried with backoff until `max_attempts` or `deadline_s` after submission,
    and every final status is written back to `w365_postinvoicetasks` in one `$batch`.
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

    def submit(self, invoice_ids: Iterable[str], on_final: TaskListener | None = None,
               client: DataverseClient | None = None) -> None:
        """Run the Queued tasks of these invoices in the background; `on_final` hears each final status.

        `client`: the connector to read and record them with (e.g. acting as the run's user).
        """
        ids = sorted(set(invoice_ids))
        if not ids:
            return
        with self._idle:
            self._busy += 1
        self._groups.submit(self._run_group, ids, time.monotonic() + self._deadline_s, on_final,
                            client or self._client)

    def wait_idle(self, timeout: float | None = None) -> bool:
        """Block until every submitted group is finished (True) or `timeout` passes (False)."""
        with self._idle:
            return self._idle.wait_for(lambda: self._busy == 0, timeout)

    def shutdown(self, wait: bool = True) -> None:
        """Stop accepting work; with `wait`, finish what was submitted."""
        self._groups.shutdown(wait=wait)
        self._io.shutdown(wait=wait)

    def _run_group(self, invoice_ids: list[str], deadline: float, on_final: TaskListener | None,
                   client: DataverseClient) -> None:
        try:
            contexts = self._load(client, invoice_ids, deadline)
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
            with self._idle:
                self._busy -= 1
                self._idle.notify_all()

    def _pause(self, round_no: int, deadline: float) -> bool:
        delay = self._backoff_s[min(round_no, len(self._backoff_s) - 1)]
        if time.monotonic() + delay >= deadline:
            return False
        time.sleep(delay)
        return True

    def _load(self, client: DataverseClient, invoice_ids: list[str], deadline: float) -> list[TaskContext]:
        round_no = 0
        while True:
            try:
                return load_contexts(client, invoice_ids)
            except DataverseError as exc:
                log.warning("loading post-invoicing tasks failed (%s); retrying", exc)
                if not self._pause(round_no, deadline):
                    raise
                round_no += 1

    def _run_tasks(self, contexts: list[TaskContext], deadline: float) -> dict[str, tuple[Outcome, int]]:
        attempts = {ctx.task_id: ctx.attempts for ctx in contexts}
        final: dict[str, tuple[Outcome, int]] = {}
        remaining, round_no = contexts, 0
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
            if retry and (round_no + 2 > self._max_attempts or not self._pause(round_no, deadline)):
                for ctx in retry:
                    n = attempts[ctx.task_id]
                    message = f"gave up after {n} attempt{'s' if n > 1 else ''}: {last_error[ctx.task_id]}"
                    final[ctx.task_id] = (Outcome(TaskStatus.FAILED, message), n)
                retry = []
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
