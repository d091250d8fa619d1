"""The framework-free request and response of one Web API call, and JSON/error answers."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from requests.structures import CaseInsensitiveDict

from .errors import DataverseFault
from .jsonout import dumps

_JSON = "application/json; odata.metadata=minimal"

Headers = CaseInsensitiveDict  # request headers: lookups ignore the name's case, as in HTTP


@dataclass
class ApiRequest:
    """One request below the API root."""

    method: str
    path: str  # e.g. "accounts(…)" (decoded, no leading slash)
    query: str  # the raw query string
    headers: Headers
    body: bytes = b""


@dataclass
class ApiResponse:
    """What the Web API answers."""

    status: int
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""


def json_response(status: int, obj: Any, headers: dict[str, str] | None = None) -> ApiResponse:
    """A JSON answer with the OData headers."""
    return ApiResponse(
        status, {"Content-Type": _JSON, "OData-Version": "4.0", **(headers or {})}, dumps(obj)
    )


def error_response(fault: DataverseFault) -> ApiResponse:
    """A Dataverse error body."""
    return json_response(fault.status, fault.body(), fault.headers)
