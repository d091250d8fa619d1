"""The shape of each write (method, path, headers, body), shared by client and change sets."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping

from . import odata
from .jsonutil import dumps

CRLF = "\r\n"


@dataclass
class Operation:
    """One Web API request (path relative to the API root, or starting with a `$n` reference)."""

    method: str
    path: str
    body: Mapping[str, Any] | None = None
    headers: dict[str, str] = field(default_factory=dict)
    params: Mapping[str, Any] | None = None
    content_id: str | None = None

    def target(self, api_path: str) -> str:
        """The request-line URL in a `$batch`: `$n...` verbatim, else the path under `api_path`."""
        if self.path.startswith("$"):
            url = self.path
        else:
            url = api_path + odata.quote_path(self.path.lstrip("/"))
        query = odata.query_string(self.params)
        return url + ("?" + query if query else "")

    def render(self, api_path: str) -> str:
        """The embedded HTTP request of a `$batch` part: request line, headers, blank, body."""
        lines = [f"{self.method} {self.target(api_path)} HTTP/1.1"]
        headers = dict(self.headers)
        if self.body is not None:
            headers.setdefault("Content-Type", "application/json; type=entry")
        else:
            headers.setdefault("Accept", "application/json")
        lines += [f"{k}: {v}" for k, v in headers.items()]
        payload = dumps(self.body) if self.body is not None else ""
        return CRLF.join(lines) + CRLF + CRLF + payload


def create(entity_set: str, record: Mapping[str, Any], *, return_representation: bool = False,
           select: str | Iterable[str] | None = None) -> Operation:
    """POST a row (deep insert allowed); `Prefer: return=representation` for the 201 body."""
    if not return_representation:
        return Operation("POST", entity_set, dict(record))
    return Operation("POST", entity_set, dict(record), {"Prefer": "return=representation"},
                     params={"$select": odata.comma_list(select)})


def update(entity_set: str, id: Any, changes: Mapping[str, Any], *,
           etag: str | None = None) -> Operation:
    """PATCH a row: `If-Match: <etag>`, else `If-Match: *` (an update never creates)."""
    return Operation("PATCH", odata.entity_path(entity_set, id), dict(changes),
                     {"If-Match": etag or "*"})


def upsert(entity_set: str, id_or_keys: Any, record: Mapping[str, Any], *,
           only_create: bool = False, only_update: bool = False) -> Operation:
    """Create-or-update at an id or alternate-key URL (`If-None-Match: *` / `If-Match: *`)."""
    if only_create and only_update:
        raise ValueError("only_create and only_update exclude each other")
    headers = {"If-None-Match": "*"} if only_create else {"If-Match": "*"} if only_update else {}
    return Operation("PATCH", odata.entity_path(entity_set, id_or_keys), dict(record), headers)


def delete(entity_set: str, id: Any, *, etag: str | None = None) -> Operation:
    """DELETE a row (`If-Match: <etag>` when given)."""
    return Operation("DELETE", odata.entity_path(entity_set, id), None,
                     {"If-Match": etag} if etag else {})


def bulk(entity_set: str, message: str, logical_name: str,
         records: Iterable[Mapping[str, Any]]) -> Operation:
    """CreateMultiple / UpdateMultiple: `Targets` each typed with `@odata.type`."""
    targets = [{**r, "@odata.type": f"Microsoft.Dynamics.CRM.{logical_name}"} for r in records]
    return Operation("POST", f"{entity_set}/Microsoft.Dynamics.CRM.{message}", {"Targets": targets})
