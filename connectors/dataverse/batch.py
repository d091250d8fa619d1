"""`$batch`: the multipart/mixed builder (change sets, Content-ID refs) and the answer parser."""
from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from typing import Any, Mapping

from requests.structures import CaseInsensitiveDict

from . import odata
from . import operations as ops
from .errors import DataverseError, NotExecutedError, error_from_parts
from .jsonutil import loads
from .operations import CRLF, Operation
_BLANK_LINE = re.compile(rb"\r?\n\r?\n")
_BOUNDARY = re.compile(r'boundary\s*=\s*"?([^";]+)"?', re.IGNORECASE)


class Changeset:
    """An atomic group of writes; each returns its `$n` Content-ID reference."""

    def __init__(self, batch: "Batch", tag: Any = None) -> None:
        self.batch = batch
        self.tag = tag
        self.operations: list[Operation] = []

    def __len__(self) -> int:
        return len(self.operations)

    def add(self, operation: Operation) -> str:
        """Append a write and give it the next Content-ID; its `$n` reference."""
        if operation.method == "GET":
            raise ValueError("GET is not allowed inside a change set; use Batch.get")
        operation.content_id = self.batch._next_content_id()
        self.operations.append(operation)
        return "$" + operation.content_id

    def request(self, method: str, path: str, *, json: Mapping[str, Any] | None = None,
                headers: Mapping[str, str] | None = None) -> str:
        """Any write (path relative to the API root, or starting with a `$n` reference)."""
        return self.add(Operation(method.upper(), path, json, dict(headers or {})))

    def create(self, entity_set: str, record: Mapping[str, Any], *,
               return_representation: bool = False) -> str:
        """POST a row (deep insert allowed); `@odata.bind` values may be `$n` references."""
        return self.add(ops.create(entity_set, record, return_representation=return_representation))

    def update(self, entity_set: str, id: Any, changes: Mapping[str, Any], *,
               etag: str | None = None) -> str:
        """PATCH a row (`id` may be a `$n` reference); `If-Match: <etag>`, else `If-Match: *`."""
        return self.add(ops.update(entity_set, id, changes, etag=etag))

    def upsert(self, entity_set: str, id_or_keys: Any, record: Mapping[str, Any], *,
               only_create: bool = False, only_update: bool = False) -> str:
        """PATCH to an id or alternate-key URL; `only_create`/`only_update` as in the client."""
        return self.add(ops.upsert(entity_set, id_or_keys, record, only_create=only_create,
                                   only_update=only_update))

    def delete(self, entity_set: str, id: Any, *, etag: str | None = None) -> str:
        """DELETE a row (`If-Match: <etag>` when given)."""
        return self.add(ops.delete(entity_set, id, etag=etag))


class Batch:
    """The items of one `$batch`, in order: GETs (outside change sets) and change sets."""

    def __init__(self) -> None:
        self.items: list[Operation | Changeset] = []
        self._content_ids = 0

    def _next_content_id(self) -> str:
        self._content_ids += 1
        return str(self._content_ids)

    def __len__(self) -> int:
        """The number of operations (each GET and each change-set request counts once)."""
        return sum(len(i) if isinstance(i, Changeset) else 1 for i in self.items)

    def get(self, path: str, *, params: Mapping[str, Any] | None = None,
            headers: Mapping[str, str] | None = None) -> int:
        """A GET outside change sets; returns its index in `BatchResult.requests`."""
        self.items.append(Operation("GET", path, None, dict(headers or {}), params=params))
        return sum(1 for i in self.items if isinstance(i, Operation)) - 1

    def changeset(self, tag: Any = None) -> Changeset:
        """A new change set; `tag` is echoed in its `ChangesetResult`."""
        changeset = Changeset(self, tag)
        self.items.append(changeset)
        return changeset

    @property
    def changesets(self) -> list[Changeset]:
        """The change sets, in order."""
        return [i for i in self.items if isinstance(i, Changeset)]

    def render(self, api_path: str = "/api/data/v9.2/") -> tuple[bytes, str]:
        """(body, Content-Type) of the multipart/mixed request; lines end with CRLF."""
        boundary = f"batch_{uuid.uuid4()}"
        out: list[str] = []
        for item in self.items:
            if isinstance(item, Changeset) and not item.operations:
                continue  # an empty change set is not sent
            out.append(f"--{boundary}")
            if isinstance(item, Changeset):
                inner = f"changeset_{uuid.uuid4()}"
                out += [f"Content-Type: multipart/mixed; boundary={inner}", ""]
                for op in item.operations:
                    out += [f"--{inner}", "Content-Type: application/http",
                            "Content-Transfer-Encoding: binary", f"Content-ID: {op.content_id}", "",
                            op.render(api_path)]
                out.append(f"--{inner}--")
            else:
                out += ["Content-Type: application/http", "Content-Transfer-Encoding: binary", "",
                        item.render(api_path)]
        out.append(f"--{boundary}--")
        return (CRLF.join(out) + CRLF).encode("utf-8"), f"multipart/mixed; boundary={boundary}"


@dataclass
class PartResponse:
    """One embedded HTTP response of a `$batch` answer."""

    status: int
    headers: CaseInsensitiveDict
    json: Any = None
    entity_id: str | None = None
    content_id: str | None = None
    error: DataverseError | None = None

    @property
    def ok(self) -> bool:
        """True for a 1xx-3xx status."""
        return self.error is None and 0 < self.status < 400


@dataclass
class ChangesetResult:
    """The outcome of one change set: all parts ok, or the error that rolled it back."""

    tag: Any
    ok: bool
    error: DataverseError | None
    parts: list[PartResponse]

    def entity_id(self, ref: str) -> str | None:
        """The id created by the operation whose reference is `ref` (`"$1"`)."""
        wanted = ref.lstrip("$")
        return next((p.entity_id for p in self.parts if p.content_id == wanted), None)


@dataclass
class BatchResult:
    """Change-set outcomes and the responses of the requests outside change sets, in order."""

    changesets: list[ChangesetResult]
    requests: list[PartResponse]

    @property
    def ok(self) -> bool:
        """True when every change set and request succeeded."""
        return all(c.ok for c in self.changesets) and all(r.ok for r in self.requests)


# -- response parsing ---------------------------------------------------------------------------

def boundary_of(content_type: str) -> str:
    """The boundary parameter of a multipart Content-Type."""
    match = _BOUNDARY.search(content_type or "")
    if not match:
        raise DataverseError(f"no multipart boundary in {content_type!r}")
    return match.group(1).strip()


def _headers(lines: bytes) -> CaseInsensitiveDict:
    headers: CaseInsensitiveDict = CaseInsensitiveDict()
    for line in lines.decode("utf-8", "replace").splitlines():
        if ":" in line:
            name, value = line.split(":", 1)
            headers[name.strip()] = value.strip()
    return headers


def _split_head(data: bytes) -> tuple[bytes, bytes]:
    match = _BLANK_LINE.search(data)
    if not match:
        return data, b""
    return data[:match.start()], data[match.end():]


def split_multipart(body: bytes, boundary: str) -> list[tuple[CaseInsensitiveDict, bytes]]:
    """The parts of a multipart body as (MIME headers, content)."""
    delimiter = b"--" + boundary.encode("ascii")
    parts = []
    for chunk in body.split(delimiter)[1:]:
        if chunk.startswith(b"--"):
            break
        chunk = chunk.split(b"\n", 1)[1] if b"\n" in chunk else b""  # rest of the delimiter line
        if chunk.endswith(b"\r\n"):
            chunk = chunk[:-2]
        elif chunk.endswith(b"\n"):
            chunk = chunk[:-1]
        head, content = _split_head(chunk)
        parts.append((_headers(head), content))
    return parts


def parse_http_response(data: bytes, content_id: str | None = None) -> PartResponse:
    """An embedded `HTTP/1.1 <status> ...` response as a PartResponse."""
    head, body = _split_head(data.lstrip(b"\r\n"))
    status_line, _, header_lines = head.partition(b"\n")
    try:
        status = int(status_line.split()[1])
    except (IndexError, ValueError) as exc:
        raise DataverseError(f"bad status line in $batch response: {status_line[:80]!r}") from exc
    headers = _headers(header_lines)
    text = body.strip()
    payload = None
    if text:
        try:
            payload = loads(text)
        except ValueError:
            payload = None
    error = (error_from_parts(status, payload, headers, text.decode("utf-8", "replace"))
             if status >= 400 else None)
    return PartResponse(status=status, headers=headers, json=payload,
                        entity_id=odata.entity_id_from_url(
                            headers.get("OData-EntityId") or headers.get("Location")),
                        content_id=content_id or headers.get("Content-ID"), error=error)


def _parse_item(mime: CaseInsensitiveDict, content: bytes) -> PartResponse | list[PartResponse]:
    content_type = mime.get("Content-Type", "")
    if content_type.lower().startswith("multipart/"):
        return [parse_http_response(c, h.get("Content-ID"))
                for h, c in split_multipart(content, boundary_of(content_type))]
    return parse_http_response(content, mime.get("Content-ID"))


def _not_executed() -> NotExecutedError:
    return NotExecutedError("not executed: an earlier operation of the batch failed")


Answer = PartResponse | list[PartResponse] | None  # one part, a change set's parts, or nothing


def _changeset_result(changeset: Changeset, answer: Answer) -> ChangesetResult:
    if answer is None:
        return ChangesetResult(changeset.tag, False, _not_executed(), [])
    parts = answer if isinstance(answer, list) else [answer]
    failed = next((p for p in parts if not p.ok), None)
    if failed is not None:
        error = failed.error or DataverseError(f"HTTP {failed.status}", status=failed.status)
        return ChangesetResult(changeset.tag, False, error, parts)
    return ChangesetResult(changeset.tag, True, None, parts)


def _request_result(answer: Answer) -> PartResponse:
    if answer is None:
        return PartResponse(status=0, headers=CaseInsensitiveDict(), error=_not_executed())
    if isinstance(answer, list):
        raise DataverseError("a change-set answer where a single response was expected")
    return answer


def parse_batch_response(batch: Batch, content_type: str, body: bytes) -> BatchResult:
    """Match a multipart `$batch` answer to the batch's items (missing answers: not executed)."""
    answers = [_parse_item(h, c) for h, c in split_multipart(body, boundary_of(content_type))]
    changesets: list[ChangesetResult] = []
    requests: list[PartResponse] = []
    index = 0
    for item in batch.items:
        if isinstance(item, Changeset) and not item.operations:
            changesets.append(ChangesetResult(item.tag, True, None, []))  # never sent
            continue
        answer = answers[index] if index < len(answers) else None
        index += 1
        if isinstance(item, Changeset):
            changesets.append(_changeset_result(item, answer))
        else:
            requests.append(_request_result(answer))
    return BatchResult(changesets=changesets, requests=requests)

