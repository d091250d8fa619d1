"""Typed exceptions of the Dataverse Web API connector, and the mapping from an error response."""
from __future__ import annotations

from typing import Any, Mapping

STALE_ETAG_CODES = frozenset({"0x80060882"})
# 0x80060892: alternate key exists (create, If-None-Match: *); 0x80040237: DuplicateRecord.
DUPLICATE_KEY_CODES = frozenset({"0x80060892", "0x80040237"})


class DataverseError(Exception):
    """Base class: every error carries status, code, message, request_id and retry_after."""

    def __init__(self, message: str = "", *, status: int | None = None, code: str | None = None,
                 request_id: str | None = None, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.code = code
        self.request_id = request_id
        self.retry_after = retry_after

    def __str__(self) -> str:
        head = " ".join(str(p) for p in (self.status, self.code) if p)
        return f"{head}: {self.message}" if head else self.message

    def __repr__(self) -> str:
        return (f"{type(self).__name__}(status={self.status!r}, code={self.code!r}, "
                f"message={self.message!r}, request_id={self.request_id!r})")


class DataverseConnectionError(DataverseError):
    """Network failure: no HTTP status was received."""


class AuthenticationError(DataverseError):
    """401, or the token could not be acquired."""


class PrivilegeError(DataverseError):
    """403: the caller lacks a privilege (0x80040220)."""


class NotFoundError(DataverseError):
    """404: missing row or bad resource segment."""


class BadRequestError(DataverseError):
    """400: bad query, unknown column, invalid payload."""


class PreconditionFailedError(DataverseError):
    """412: a condition (If-Match / If-None-Match / key uniqueness) did not hold."""


class ConcurrencyError(PreconditionFailedError):
    """412 / 0x80060882: the ETag sent is stale."""


class DuplicateKeyError(PreconditionFailedError):
    """412 / 0x80060892: a row with the same alternate key already exists."""


class ThrottledError(DataverseError):
    """429 that outlived the retry budget."""


class ServiceUnavailableError(DataverseError):
    """5xx that outlived the retry budget (or a 5xx that is never retried)."""


class NotExecutedError(DataverseError):
    """A `$batch` part the server never ran (an earlier part failed without continue-on-error)."""


class BatchTooLargeError(ValueError):
    """A `$batch` above Dataverse's 1000-operation limit; split it before sending."""


_BY_STATUS: dict[int, type[DataverseError]] = {
    400: BadRequestError,
    401: AuthenticationError,
    403: PrivilegeError,
    404: NotFoundError,
    412: PreconditionFailedError,
    429: ThrottledError,
}


def error_class(status: int, code: str | None) -> type[DataverseError]:
    """The exception class for an HTTP status and Dataverse error code."""
    if status == 412:
        if code in STALE_ETAG_CODES:
            return ConcurrencyError
        if code in DUPLICATE_KEY_CODES:
            return DuplicateKeyError
    if status >= 500:
        return ServiceUnavailableError
    return _BY_STATUS.get(status, DataverseError)


def parse_retry_after(value: str | None) -> float | None:
    """Retry-After in seconds (Dataverse sends an integer); None when absent or not a number."""
    if not value:
        return None
    try:
        seconds = float(value.strip())
    except ValueError:
        return None  # an HTTP-date: Dataverse does not send one; fall back to backoff
    return max(seconds, 0.0)


def error_from_parts(status: int, body: Any, headers: Mapping[str, str], text: str = "",
                     request_id: str | None = None) -> DataverseError:
    """Build the typed error from a status, a decoded body (error JSON or None) and headers."""
    code = message = None
    if isinstance(body, Mapping) and isinstance(body.get("error"), Mapping):
        code = body["error"].get("code") or None
        message = body["error"].get("message")
    if not message:
        message = (text or "").strip()[:500] or f"HTTP {status}"
    rid = (headers.get("REQ_ID") or headers.get("x-ms-service-request-id")
           or headers.get("x-ms-client-request-id") or request_id)
    cls = error_class(status, code)
    return cls(str(message), status=status, code=code, request_id=rid,
               retry_after=parse_retry_after(headers.get("Retry-After")))
