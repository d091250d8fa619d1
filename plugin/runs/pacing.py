"""Pacing a run's requests to what Dataverse allows (docs/runs.md, "Throughput and throttling").

Concurrency starts at the server's `x-ms-dop-hint` and follows additive increase / multiplicative
decrease: +1/c per answered `$batch`, halved by a 429 (once per pause, however many requests the
pause refuses). A 429's `Retry-After` pauses every sender of the run, since Dataverse's limits
are per user. The operations per `$batch` follow the server time per operation, so one batch takes
about `TARGET_BATCH_S`. A throttled call is repeated after the pause, past the connector's own
retry budget, so throttling never fails a row.
"""
from __future__ import annotations

import math
import threading
import time
from contextlib import contextmanager
from typing import Any, Callable, Iterator, TypeVar

from connectors.dataverse.errors import ThrottledError

T = TypeVar("T")

DOP_HINT_HEADER = "x-ms-dop-hint"
TARGET_BATCH_S = 2.0          # long enough to keep requests per contract low, short enough to adapt
MIN_BATCH_OPS = 20
MAX_BATCH_OPS = 1000
DEFAULT_RETRY_AFTER_S = 1.0
THROTTLE_PATIENCE_S = 3600.0  # a run waits out throttling this long per call before giving up
_EWMA = 0.3


def increased(concurrency: float, cap: int) -> float:
    """Additive increase: one more in flight per round of answered requests, up to `cap`."""
    return min(float(cap), concurrency + 1.0 / max(concurrency, 1.0))


def decreased(concurrency: float) -> float:
    """Multiplicative decrease on a 429: half as many in flight, at least one."""
    return max(1.0, concurrency / 2.0)


def batch_ops_for(seconds_per_op: float | None, target_s: float = TARGET_BATCH_S) -> int:
    """Operations per `$batch` so that one takes about `target_s` on the server."""
    if not seconds_per_op or seconds_per_op <= 0:
        return MAX_BATCH_OPS
    return max(MIN_BATCH_OPS, min(MAX_BATCH_OPS, int(target_s / seconds_per_op)))


def paused_extension(paused_until: float, now: float, retry_after_s: float) -> tuple[float, float]:
    """(new end of the pause, seconds it adds): overlapping 429s count their shared time once."""
    end = max(paused_until, now + retry_after_s)
    return end, max(0.0, end - max(paused_until, now))


class Pacer:
    """One run's pace: how many requests in flight, how big a batch, and the throttled time."""

    def __init__(self, start: int, *, cap: int | None = None, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self._cond = threading.Condition()
        self._clock, self._sleep = clock, sleep
        self._concurrency = float(max(start, 1))
        self._cap = max(cap or start, 1)
        self._hinted = False
        self._in_flight = 0
        self._paused_until = 0.0
        self._seconds_per_op: float | None = None
        self.throttled_s = 0.0
        self.throttles = 0

    @property
    def concurrency(self) -> int:
        """Requests allowed in flight now."""
        with self._cond:
            return int(self._concurrency)

    def batch_ops(self) -> int:
        """Operations to pack into the next `$batch`."""
        with self._cond:
            return batch_ops_for(self._seconds_per_op)

    def observe(self, response: Any, *args: Any, **kwargs: Any) -> Any:
        """A `requests` response hook: the server's parallelism hint and its 429s."""
        hint = response.headers.get(DOP_HINT_HEADER)
        if hint and not self._hinted:
            try:
                self.hint(int(hint))
            except ValueError:
                pass
        if response.status_code == 429:
            self.throttled(_retry_after(response.headers.get("Retry-After")))
        return response

    def hint(self, dop: int) -> None:
        """Start at the server's suggested parallelism, and never go above it."""
        with self._cond:
            if self._hinted or dop < 1:
                return
            self._hinted = True
            self._concurrency = float(dop)
            self._cap = dop
            self._cond.notify_all()

    def throttled(self, retry_after_s: float | None) -> None:
        """A 429: pause every sender for `Retry-After` and halve concurrency (once per pause)."""
        with self._cond:
            now = self._clock()
            if now >= self._paused_until:
                self._concurrency = decreased(self._concurrency)
            delay = retry_after_s if retry_after_s is not None else DEFAULT_RETRY_AFTER_S
            self._paused_until, added = paused_extension(self._paused_until, now, delay)
            self.throttled_s += added
            self.throttles += 1

    def answered(self, operations: int, elapsed_s: float) -> None:
        """A `$batch` of `operations` came back after `elapsed_s`: grow, and learn the time per operation."""
        with self._cond:
            self._concurrency = increased(self._concurrency, self._cap)
            if operations > 0 and elapsed_s > 0:
                sample = elapsed_s / operations
                old = self._seconds_per_op
                self._seconds_per_op = sample if old is None else old + _EWMA * (sample - old)
            self._cond.notify_all()

    def wait_for_pause(self) -> None:
        """Sleep until the current pause (if any) is over."""
        while True:
            with self._cond:
                left = self._paused_until - self._clock()
            if left <= 0:
                return
            self._sleep(left)

    @contextmanager
    def slot(self) -> Iterator[None]:
        """Hold one of the places in flight (waiting out pauses and a lowered concurrency)."""
        while True:
            self.wait_for_pause()
            with self._cond:
                if self._in_flight < int(self._concurrency) and self._clock() >= self._paused_until:
                    self._in_flight += 1
                    break
                self._cond.wait(timeout=0.05)
        try:
            yield
        finally:
            with self._cond:
                self._in_flight -= 1
                self._cond.notify_all()

    def call(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """`fn(...)`, repeated after each pause while it fails with a 429 (for up to THROTTLE_PATIENCE_S)."""
        started = self._clock()
        while True:
            try:
                return fn(*args, **kwargs)
            except ThrottledError as exc:
                if self._clock() - started > THROTTLE_PATIENCE_S:
                    raise
                self.throttled(exc.retry_after)
                self.wait_for_pause()


def _retry_after(value: str | None) -> float | None:
    try:
        seconds = float(value) if value is not None else None
    except ValueError:
        return None
    return seconds if seconds is not None and math.isfinite(seconds) and seconds >= 0 else None
