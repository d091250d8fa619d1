"""Dataverse's error codes and the exception that carries one to the error body."""

from __future__ import annotations

from typing import Mapping

RESOURCE_NOT_FOUND = "0x80060888"  # bad segment / bad query syntax
OBJECT_NOT_FOUND = "0x80040217"  # row does not exist
INVALID_PROPERTY = "0x80048d19"  # unknown column / bad payload
CONCURRENCY_MISMATCH = "0x80060882"  # stale If-Match
DUPLICATE_KEY = "0x80060892"  # alternate key / If-None-Match: * collision
DUPLICATE_RECORD = "0x80040237"  # primary id already exists
MISSING_PRIVILEGE = "0x80040220"
THROTTLED = "0x80072322"
GENERIC = "0x80040216"
INVALID_ARGUMENT = "0x80040203"


class DataverseFault(Exception):
    """An error answered as `{"error": {"code", "message"}}` with an HTTP status."""

    def __init__(
        self, status: int, code: str, message: str, headers: Mapping[str, str] | None = None
    ):
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = dict(headers or {})

    def body(self) -> dict:
        """The JSON error body Dataverse sends."""
        return {"error": {"code": self.code, "message": self.message}}


def bad_segment(segment: str) -> DataverseFault:
    """404: the URL names no entity set, key or operation."""
    return DataverseFault(
        404, RESOURCE_NOT_FOUND, f"Resource not found for the segment '{segment}'."
    )


def not_found(logical_name: str, ident: str) -> DataverseFault:
    """404: the row does not exist."""
    return DataverseFault(404, OBJECT_NOT_FOUND, f"{logical_name} With Id = {ident} Does Not Exist")


def bad_query(message: str) -> DataverseFault:
    """400: a query option that cannot be parsed."""
    return DataverseFault(400, RESOURCE_NOT_FOUND, message)


def unknown_property(name: str, logical_name: str) -> DataverseFault:
    """400: a column that the table does not have."""
    return DataverseFault(
        400,
        INVALID_PROPERTY,
        f"Could not find a property named '{name}' on type "
        f"'Microsoft.Dynamics.CRM.{logical_name}'.",
    )


def bad_payload(message: str) -> DataverseFault:
    """400: a request body Dataverse refuses."""
    return DataverseFault(400, INVALID_PROPERTY, message)


def bad_request(message: str) -> DataverseFault:
    """400: a request that is malformed in some other way."""
    return DataverseFault(400, INVALID_ARGUMENT, message)
