"""In-memory state of the runs this process executes: progress for `GET /invoice-runs/{id}`."""
from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Callable, Iterable

from plugin.runs.model import PENDING, RowResult, RunRequest, RunRow, RunView
from plugin.invoicing.writes import RUN_COMPLETED, RUN_COMPLETED_WITH_ERRORS, RUN_RUNNING, RowOutcome

ProgressListener = Callable[[int, int], None]


class RunState:
    """One run's rows and their results as they arrive; thread-safe."""

    def __init__(self, run_id: str, run_key: str | None, request: RunRequest,
                 results: Iterable[RowResult] | None = None, names: dict[str, str] | None = None) -> None:
        self.run_id = run_id
        self.run_key = run_key
        self.request = request
        self.rows: list[RunRow] = list(request.rows)
        self.results = list(results) if results is not None else [RowResult() for _ in self.rows]
        self.names: dict[str, str] = dict(names or {})
        self.status = RUN_RUNNING
        self.throttled_s = 0.0
        self._lock = threading.Lock()
        self._finished = threading.Event()
        self._listeners: list[ProgressListener] = []

    def add_listener(self, listener: ProgressListener) -> None:
        """Call `listener(done, total)` whenever rows finish."""
        self._listeners.append(listener)

    def set_names(self, names: dict[str, str]) -> None:
        """Remember contract names (for the view and the CSV)."""
        with self._lock:
            self.names.update(names)

    def record(self, results: dict[int, RowResult]) -> None:
        """Set the results of some rows (by row index)."""
        with self._lock:
            for index, result in results.items():
                self.results[index] = result
            done, total = self._done(), len(self.rows)
        for listener in self._listeners:
            listener(done, total)

    def update_task(self, index: int, task: dict[str, str]) -> None:
        """Replace the view of one post task of a row (matched by task name)."""
        with self._lock:
            tasks = self.results[index].post_tasks
            tasks[:] = [task if t["task"] == task["task"] else t for t in tasks]

    def _done(self) -> int:
        return sum(1 for r in self.results if r.status != PENDING)

    def final_status(self) -> int:
        """Completed, or Completed with errors when a row failed (or never got a result)."""
        with self._lock:
            bad = any(r.status in ("failed", PENDING) for r in self.results)
        return RUN_COMPLETED_WITH_ERRORS if bad else RUN_COMPLETED

    def add_throttled(self, seconds: float) -> None:
        """Add time the run's execution spent paused by Dataverse's 429s."""
        with self._lock:
            self.throttled_s += seconds

    def finish(self, status: int) -> None:
        """Mark the run finished with `status`."""
        with self._lock:
            self.status = status
        self._finished.set()

    @property
    def finished(self) -> bool:
        """Whether the run has ended."""
        return self._finished.is_set()

    def wait(self, timeout: float | None) -> bool:
        """Wait until the run ends; False when `timeout` passed first."""
        return self._finished.wait(timeout)

    def view(self) -> RunView:
        """A consistent copy of the run as the API shows it."""
        with self._lock:
            return RunView(run_id=self.run_id, run_key=self.run_key, status=self.status,
                           source=self.request.source, rows=list(self.rows), names=dict(self.names),
                           results=[r.copy() for r in self.results], throttled_s=self.throttled_s)

    def fail_pending(self, message: str) -> None:
        """Give every row still pending a failed result (the run could not go on)."""
        with self._lock:
            for i, result in enumerate(self.results):
                if result.status == PENDING:
                    self.results[i] = RowResult(RowOutcome(status="failed", cycle=self.rows[i].cycle,
                                                           message=message))


class RunRegistry:
    """The runs of this process by id and run key; finished ones kept (bounded) for quick reads."""

    def __init__(self, keep_finished: int = 100) -> None:
        self._runs: OrderedDict[str, RunState] = OrderedDict()
        self._keys: dict[str, str] = {}
        self._keep = keep_finished
        self._lock = threading.Lock()

    def add(self, state: RunState) -> None:
        """Track a run (replacing an older state of the same run)."""
        with self._lock:
            self._runs[state.run_id] = state
            self._runs.move_to_end(state.run_id)
            if state.run_key:
                self._keys[state.run_key] = state.run_id
            finished = [rid for rid, s in self._runs.items() if s.finished]
            for rid in finished[:max(len(finished) - self._keep, 0)]:
                dropped = self._runs.pop(rid)
                self._keys.pop(dropped.run_key or "", None)

    def remove(self, run_id: str) -> None:
        """Forget a run (another process executes it now)."""
        with self._lock:
            dropped = self._runs.pop(run_id, None)
            if dropped is not None:
                self._keys.pop(dropped.run_key or "", None)

    def get(self, run_id_or_key: str) -> RunState | None:
        """The state of a run by id or run key, if this process knows it."""
        with self._lock:
            state = self._runs.get(run_id_or_key.lower()) or self._runs.get(run_id_or_key)
            if state is None and run_id_or_key in self._keys:
                state = self._runs.get(self._keys[run_id_or_key])
            return state
