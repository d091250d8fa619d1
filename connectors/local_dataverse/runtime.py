"""Request counters and injected faults (latency, 429, 503, connection resets)."""

from __future__ import annotations

import random
import threading
import time
from typing import Any

API_PREFIX = "/api/data/v9.2"
# older Web API versions community clients still use; answered like v9.2
API_PREFIXES = ("/api/data/v9.0", "/api/data/v9.1", API_PREFIX)
FAULT_KEYS = ("latency_ms", "rate_429", "rate_503", "rate_reset", "retry_after_s")


class Stats:
    """What `/_admin/stats` reports."""

    _FIELDS = (
        "http_requests",
        "operations",
        "batch_requests",
        "unauthorized",
        "faults_429",
        "faults_503",
        "resets",
        "server_errors",
        "exec_ms",
        "throttled",
    )

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        """Zero every counter."""
        with self._lock:
            self._counts = dict.fromkeys(self._FIELDS, 0)

    def add(self, name: str, n: float = 1) -> None:
        """Add `n` to a counter."""
        with self._lock:
            self._counts[name] += n

    def snapshot(self) -> dict[str, int]:
        """The counters now."""
        with self._lock:
            return dict(self._counts)


class Faults:
    """Per-request fault probabilities and latency; `update` merges the keys given."""

    def __init__(
        self,
        *,
        latency_ms: float = 0,
        rate_429: float = 0.0,
        rate_503: float = 0.0,
        rate_reset: float = 0.0,
        retry_after_s: int = 1,
        seed: int | None = None,
    ):
        self._lock = threading.Lock()
        self._rng = random.Random(seed)
        self.settings: dict[str, Any] = {
            "latency_ms": 0,
            "rate_429": 0.0,
            "rate_503": 0.0,
            "rate_reset": 0.0,
            "retry_after_s": 1,
        }
        self.update(
            latency_ms=latency_ms,
            rate_429=rate_429,
            rate_503=rate_503,
            rate_reset=rate_reset,
            retry_after_s=retry_after_s,
        )

    def update(self, **changes: Any) -> dict[str, Any]:
        """Validate and merge settings (ValueError on a bad key or value); the new settings."""
        clean: dict[str, Any] = {}
        for key, value in changes.items():
            if key not in FAULT_KEYS:
                raise ValueError(f"unknown fault setting '{key}' (known: {', '.join(FAULT_KEYS)})")
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                try:
                    value = float(str(value))
                except ValueError:
                    raise ValueError(f"'{key}' must be a number") from None
            if key.startswith("rate_") and not 0 <= value <= 1:
                raise ValueError(f"'{key}' must be a probability between 0 and 1")
            if value < 0:
                raise ValueError(f"'{key}' must not be negative")
            if key == "retry_after_s":
                value = int(value)
            clean[key] = float(value) if key.startswith("rate_") else value
        with self._lock:
            self.settings.update(clean)
            return dict(self.settings)

    def snapshot(self) -> dict[str, Any]:
        """The settings now."""
        with self._lock:
            return dict(self.settings)

    def roll(self, key: str) -> bool:
        """True with the probability `settings[key]`."""
        with self._lock:
            rate = self.settings[key]
            return rate > 0 and self._rng.random() < rate

    def sleep(self) -> None:
        """The injected latency."""
        latency = self.settings["latency_ms"]
        if latency > 0:
            time.sleep(latency / 1000)

    @property
    def retry_after_s(self) -> int:
        return int(self.settings["retry_after_s"])


def is_api_path(path: str) -> bool:
    """True for requests under `/api/data/v9.x/` (the counted, faultable ones)."""
    return any(path == p or path.startswith(p + "/") for p in API_PREFIXES)
