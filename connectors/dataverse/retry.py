"""When to retry and how long to wait: Retry-After first, else exponential backoff with jitter."""
from __future__ import annotations

import random
import time
from dataclasses import dataclass, field
from typing import Callable

import requests

RETRY_STATUSES = frozenset({429, 502, 503, 504})


@dataclass
class RetryPolicy:
    """A time budget for retries, measured on `clock`, slept with `sleep` (both injectable)."""

    budget_s: float = 20.0
    backoff_base_s: float = 0.5
    backoff_cap_s: float = 30.0
    sleep: Callable[[float], None] = time.sleep
    clock: Callable[[], float] = time.monotonic
    rng: Callable[[], float] = field(default=random.random)

    def backoff(self, attempt: int) -> float:
        """Exponential backoff with jitter: uniform in [d/2, d], d = base * 2**attempt, capped."""
        ceiling = min(self.backoff_cap_s, self.backoff_base_s * (2 ** attempt))
        return ceiling * (0.5 + 0.5 * self.rng())

    def delay(self, attempt: int, retry_after: float | None) -> float:
        """The wait before the next attempt: the server's Retry-After, else backoff."""
        return retry_after if retry_after is not None else self.backoff(attempt)

    def deadline(self) -> float:
        """The clock value after which no retry may start."""
        return self.clock() + self.budget_s

    def wait(self, delay: float, deadline: float) -> bool:
        """Sleep `delay` and return True, or return False when that would pass the deadline."""
        if self.clock() + delay > deadline:
            return False
        self.sleep(delay)
        return True


def is_retryable_exception(exc: Exception, method: str) -> bool:
    """Connection failures are retried; a timeout or broken body (work may be done) only for GET."""
    if isinstance(exc, requests.ConnectionError) and not isinstance(exc, requests.ReadTimeout):
        return True
    return (isinstance(exc, (requests.Timeout, requests.exceptions.ChunkedEncodingError))
            and method.upper() == "GET")
