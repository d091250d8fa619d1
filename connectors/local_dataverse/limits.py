"""Dataverse's service protection limits per user: requests and execution time over a sliding
window, and concurrent requests (docs: connectors/local_dataverse/README.md).

The window arithmetic (`refusal`, `remaining`, `retry_after_s`) is pure; `Limiter` keeps one
list of charges and an in-flight count per user behind a lock.
"""
from __future__ import annotations

import math
import threading
import time
from dataclasses import asdict, dataclass, field, replace
from typing import Any, Callable, Sequence

REQUESTS_EXCEEDED = "0x80072322"
EXEC_TIME_EXCEEDED = "0x80072321"
CONCURRENCY_EXCEEDED = "0x80072326"
LIMIT_KEYS = ("enabled", "window_s", "requests", "exec_ms", "concurrent", "op_cost_ms")
# Dataverse's usual hint for one web server; never above the concurrency limit
DEFAULT_DOP_HINT = 8
CONCURRENCY_RETRY_AFTER_S = 1


@dataclass(frozen=True)
class LimitSettings:
    """The limits in force (`enabled` False: nothing refused; `op_cost_ms` is charged anyway)."""

    enabled: bool = False
    window_s: float = 300
    requests: int = 6000
    exec_ms: int = 1_200_000
    concurrent: int = 52
    op_cost_ms: float = 0

    def as_json(self) -> dict[str, Any]:
        """The settings as `GET /_admin/limits` shows them."""
        return asdict(self)

    @property
    def dop_hint(self) -> int:
        """The degree of parallelism the server suggests (`x-ms-dop-hint`)."""
        return max(1, min(self.concurrent, DEFAULT_DOP_HINT))


def merge_settings(current: LimitSettings, changes: dict[str, Any]) -> LimitSettings:
    """`current` with `changes` merged (ValueError naming the bad key or value)."""
    clean: dict[str, Any] = {}
    for key, value in changes.items():
        if key not in LIMIT_KEYS:
            raise ValueError(f"unknown limit setting '{key}' (known: {', '.join(LIMIT_KEYS)})")
        if key == "enabled":
            if not isinstance(value, bool):
                raise ValueError("'enabled' must be true or false")
            clean[key] = value
            continue
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise ValueError(f"'{key}' must be a number")
        if key in ("requests", "exec_ms", "concurrent"):
            if value != int(value) or value < 1:
                raise ValueError(f"'{key}' must be a whole number of at least 1")
            value = int(value)
        elif key == "window_s" and value <= 0:
            raise ValueError("'window_s' must be more than 0")
        elif value < 0:
            raise ValueError(f"'{key}' must not be negative")
        clean[key] = value
    return replace(current, **clean)


@dataclass
class Charge:
    """One request admitted at `at` (seconds) and the execution time it was charged."""

    at: float
    exec_ms: float = 0.0


@dataclass(frozen=True)
class Refusal:
    """Why a request is refused: the documented code and message, and when to come back."""

    code: str
    message: str
    retry_after_s: int


def in_window(charges: Sequence[Charge], now: float, window_s: float) -> list[Charge]:
    """The charges younger than the window (oldest first)."""
    return [c for c in charges if c.at > now - window_s]


def retry_after_s(charges: Sequence[Charge], now: float, window_s: float, fits: Callable[[list[Charge]], bool]) -> int:
    """Whole seconds until enough of the oldest charges leave the window that the rest `fits` (≥ 1)."""
    live = in_window(charges, now, window_s)
    for dropped in range(len(live) + 1):
        if fits(live[dropped:]):
            if dropped == 0:
                return 1
            return max(1, math.ceil(live[dropped - 1].at + window_s - now))
    return max(1, math.ceil(window_s))


def refusal(charges: Sequence[Charge], in_flight: int, now: float, s: LimitSettings) -> Refusal | None:
    """The limit a new request would break, or None (concurrency is refused first, at once)."""
    if in_flight >= s.concurrent:
        return Refusal(CONCURRENCY_EXCEEDED, f"Number of concurrent requests exceeded the limit of {s.concurrent}.",
                       CONCURRENCY_RETRY_AFTER_S)
    live = in_window(charges, now, s.window_s)
    window = f"{s.window_s:g}"
    if len(live) >= s.requests:
        return Refusal(REQUESTS_EXCEEDED,
                       f"Number of requests exceeded the limit of {s.requests} over time window of {window} seconds.",
                       retry_after_s(live, now, s.window_s, lambda rest: len(rest) < s.requests))
    if sum(c.exec_ms for c in live) >= s.exec_ms:
        return Refusal(EXEC_TIME_EXCEEDED,
                       f"Combined execution time of incoming requests exceeded limit of {s.exec_ms:,} milliseconds "
                       f"over time window of {window} seconds. Decrease number of concurrent requests or reduce "
                       "the duration of requests and try again later.",
                       retry_after_s(live, now, s.window_s, lambda rest: sum(c.exec_ms for c in rest) < s.exec_ms))
    return None


def remaining(charges: Sequence[Charge], now: float, s: LimitSettings) -> tuple[int, int]:
    """(requests, execution milliseconds) left in the window now, never below 0."""
    live = in_window(charges, now, s.window_s)
    return max(0, s.requests - len(live)), max(0, int(s.exec_ms - sum(c.exec_ms for c in live)))


@dataclass
class _User:
    charges: list[Charge] = field(default_factory=list)
    in_flight: int = 0


class Limiter:
    """The limits of one local Dataverse, per user; `clock` is injectable for tests."""

    def __init__(self, settings: LimitSettings | None = None, clock: Callable[[], float] = time.monotonic) -> None:
        self._lock = threading.Lock()
        self._clock = clock
        self._settings = settings or LimitSettings()
        self._users: dict[str, _User] = {}

    @property
    def settings(self) -> LimitSettings:
        return self._settings

    def update(self, **changes: Any) -> LimitSettings:
        """Merge settings (ValueError on a bad one), apply them at once and start a fresh window."""
        with self._lock:
            self._settings = merge_settings(self._settings, changes)
            for user in self._users.values():
                user.charges.clear()
            return self._settings

    def admit(self, user: str) -> tuple[Charge | None, Refusal | None]:
        """Admit one request of `user` (its Charge, in flight until `finish`), or the Refusal."""
        with self._lock:
            s, now = self._settings, self._clock()
            state = self._users.setdefault(user, _User())
            state.charges = in_window(state.charges, now, s.window_s)
            if s.enabled:
                refused = refusal(state.charges, state.in_flight, now, s)
                if refused is not None:
                    return None, refused
            charge = Charge(now)
            state.charges.append(charge)
            state.in_flight += 1
            return charge, None

    def finish(self, user: str, charge: Charge, exec_ms: float) -> None:
        """The admitted request is answered: charge its execution time, no longer in flight."""
        with self._lock:
            charge.exec_ms = exec_ms
            state = self._users.setdefault(user, _User())
            state.in_flight = max(0, state.in_flight - 1)

    def headers(self, user: str) -> dict[str, str]:
        """The `x-ms-ratelimit-*` and `x-ms-dop-hint` headers for `user` now."""
        with self._lock:
            s = self._settings
            state = self._users.get(user) or _User()
            requests_left, ms_left = remaining(state.charges, self._clock(), s)
        return {
            "x-ms-ratelimit-burst-remaining-xrm-requests": str(requests_left),
            "x-ms-ratelimit-time-remaining-xrm-requests": str(ms_left),
            "x-ms-dop-hint": str(s.dop_hint),
        }
