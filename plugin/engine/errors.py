"""Errors the engine raises; each carries a stable `code` the API turns into a 4xx."""

from __future__ import annotations


class EngineError(ValueError):
    """Base of every engine error: bad input, never a bug (the API answers 4xx)."""

    code = "engine_error"
    status = 422

    def __init__(self, message: str, **details: object) -> None:
        super().__init__(message)
        self.message = message
        self.details = dict(details)


class UnknownCycle(EngineError):
    """A cycle key that names no existing cycle of the contract (or is not a key at all)."""

    code = "unknown_cycle"
    status = 400


class NoCycleAvailable(EngineError):
    """No cycle was given and the contract has no default cycle (all listed cycles invoiced)."""

    code = "no_cycle_available"
    status = 409


class InvalidRecord(EngineError):
    """A Dataverse row that cannot be read as docs/data-model.md describes it (missing key, bad choice)."""

    code = "invalid_record"
    status = 422
