"""`$batch` for the local Dataverse: parse multipart/mixed, run the parts with Dataverse's semantics
(atomic change sets, `Content-ID` references, stop at the first failure unless
`Prefer: odata.continue-on-error`) and render the multipart answer.

`handle_batch` returns `(body, content_type)`. The value is a `BatchReply`, a 2-tuple that also
carries `.status` (200, or the failing part's status when the batch stopped at a failure, as real
Dataverse answers) and `.headers` (`Preference-Applied` when continue-on-error was honoured): the
server should answer with `reply.status` and add `reply.headers`.
"""
from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from http import HTTPStatus
from typing import Callable, ContextManager, Iterable, Mapping
from urllib.parse import urlsplit

from .errors import DataverseFault, bad_request
from .service import Headers, error_response

MAX_REQUESTS = 1000
CRLF = b"\r\n"
_METHODS = {"GET", "POST", "PATCH", "PUT", "DELETE"}
_REQUEST_LINE = re.compile(r"^(\S+)\s+(\S.*?)(?:\s+HTTP/\d(?:\.\d)?)?\s*$")  # tolerates raw spaces
_URL_REFERENCE = re.compile(r"^\$([^/?#()]+)(.*)$", re.DOTALL)
# a `...@odata.bind` / `...@odata.id` member whose value is a string or an array of strings
_BIND_MEMBER = re.compile(
    rb'("(?:[^"\\]|\\.)*@odata\.(?:bind|id)"\s*:\s*)'
    rb'("(?:[^"\\]|\\.)*"|\[\s*(?:"(?:[^"\\]|\\.)*"\s*(?:,\s*"(?:[^"\\]|\\.)*"\s*)*)?\])')
_REFERENCE_STRING = re.compile(rb'"\$([^"\\/]+)"')
_API_PATH = re.compile(r"/api/data/v\d+(?:\.\d+)?/(.+)$")


@dataclass
class SubRequest:
    """One request inside the batch as `execute` receives it (case-insensitive header lookups)."""

    method: str
    url: str
    headers: dict[str, str]
    body: bytes


@dataclass
class SubResponse:
    """What `execute` answers for one SubRequest."""

    status: int
    headers: dict[str, str]
    body: bytes


class BatchFormatError(ValueError):
    """The `$batch` body cannot be processed at all (the server answers 400)."""


class BatchReply(tuple):
    """`(body, content_type)` plus the outer `status`, extra response `headers` and `operations`.

    `operations` is the number of requests the batch holds (change-set requests included), counted
    whether or not each one ran: "a `$batch` is as many operations as parts".
    """

    status: int
    headers: dict[str, str]
    operations: int

    def __new__(cls, body: bytes, content_type: str, status: int, headers: dict[str, str],
                operations: int = 0):
        reply = super().__new__(cls, (body, content_type))
        reply.status = status
        reply.headers = headers
        reply.operations = operations
        return reply


# ---------------------------------------------------------------------------------------- parsing

@dataclass
class _Operation:
    content_id: str | None
    request: SubRequest


@dataclass
class _Changeset:
    operations: list[_Operation]


def _boundary(content_type: str, what: str) -> str:
    media_type, _, params = (content_type or "").partition(";")
    if media_type.strip().lower() != "multipart/mixed":
        raise BatchFormatError(f"The {what} must have Content-Type multipart/mixed with a "
                               f"boundary; got '{content_type}'.")
    match = re.search(r'(?:^|;)\s*boundary\s*=\s*("([^"]*)"|[^;\s]+)', params, re.IGNORECASE)
    if not match:
        raise BatchFormatError(f"The Content-Type of the {what} has no boundary: '{content_type}'.")
    boundary = match.group(2) if match.group(2) is not None else match.group(1)
    if not boundary:
        raise BatchFormatError(f"The Content-Type of the {what} has an empty boundary.")
    return boundary


def _split_parts(body: bytes, boundary: str, what: str) -> list[bytes]:
    """The parts between `--boundary` lines (CRLF or bare LF), up to the closing `--boundary--`."""
    delimiter = b"--" + boundary.encode("utf-8")
    parts: list[list[bytes]] = []
    current: list[bytes] | None = None
    for line in body.splitlines(keepends=True):
        bare = line.rstrip(b"\r\n").rstrip(b" \t")
        if bare == delimiter:
            current = []
            parts.append(current)
        elif bare == delimiter + b"--":
            return [_drop_final_line_break(b"".join(p)) for p in parts]
        elif current is not None:
            current.append(line)
    raise BatchFormatError(f"The {what} does not end with its closing boundary '--{boundary}--'.")


def _drop_final_line_break(data: bytes) -> bytes:
    """The line break before a delimiter belongs to the delimiter (RFC 2046)."""
    if data.endswith(CRLF):
        return data[:-2]
    return data[:-1] if data.endswith(b"\n") else data


def _split_head(data: bytes, what: str) -> tuple[Headers, bytes]:
    """Header lines up to the first blank line, and the rest."""
    headers = Headers()
    lines = data.splitlines(keepends=True)
    index = 0
    while index < len(lines):
        text = lines[index].rstrip(b"\r\n").decode("utf-8", "replace")
        index += 1
        if not text.strip():
            break
        name, colon, value = text.partition(":")
        if not colon or not name.strip():
            raise BatchFormatError(f"Malformed header line in {what}: '{text[:200]}'.")
        headers[name.strip()] = value.strip()
    return headers, b"".join(lines[index:])


def _parse_request(content: bytes, what: str) -> SubRequest:
    """An embedded `METHOD url HTTP/1.1`, its headers, a blank line and the body."""
    content = content.lstrip(b"\r\n")
    first, _, rest = content.partition(b"\n")
    line = first.rstrip(b"\r").decode("utf-8", "replace")
    match = _REQUEST_LINE.match(line)
    if not match:
        raise BatchFormatError(f"Malformed request line in {what}: '{line[:200]}'.")
    method, url = match.group(1).upper(), match.group(2)
    if method not in _METHODS:
        raise BatchFormatError(f"Unsupported HTTP method '{method}' in {what}.")
    if urlsplit(url).path.rstrip("/").endswith("$batch"):
        raise BatchFormatError("A batch request cannot contain another batch request.")
    headers, body = _split_head(rest, what)
    return SubRequest(method, url, headers, body.rstrip(b"\r\n"))


def _parse_operation(part: bytes, what: str) -> _Operation:
    mime, content = _split_head(part, what)
    content_type = mime.get("Content-Type", "")
    if content_type.split(";")[0].strip().lower() != "application/http":
        raise BatchFormatError(f"Each request in a batch must have Content-Type application/http; "
                               f"{what} has '{content_type}'.")
    return _Operation(mime.get("Content-ID"), _parse_request(content, what))


def _parse_changeset(content_type: str, content: bytes, number: int) -> _Changeset:
    what = f"change set {number}"
    operations = []
    for index, part in enumerate(_split_parts(content, _boundary(content_type, what), what), 1):
        mime, _ = _split_head(part, what)
        if mime.get("Content-Type", "").lower().startswith("multipart/"):
            raise BatchFormatError("Change sets cannot be nested.")
        operation = _parse_operation(part, f"request {index} of {what}")
        if operation.request.method == "GET":
            raise BatchFormatError(f"GET requests are not allowed inside a change set ({what}).")
        operations.append(operation)
    if len(operations) > MAX_REQUESTS:
        raise BatchFormatError(
            "The current change set contains too many operations. A maximum number of "
            f"'{MAX_REQUESTS}' operations are allowed in a change set.")
    ids = [op.content_id for op in operations if op.content_id is not None]
    if len(ids) != len(set(ids)):
        raise BatchFormatError(f"Content-ID values must be unique within a change set ({what}).")
    return _Changeset(operations)


def parse_batch(body: bytes, content_type: str) -> list[_Operation | _Changeset]:
    """The batch's items in order: single requests and change sets."""
    items: list[_Operation | _Changeset] = []
    for number, part in enumerate(_split_parts(body, _boundary(content_type, "batch"), "batch"), 1):
        mime, content = _split_head(part, f"part {number} of the batch")
        part_type = mime.get("Content-Type", "")
        if part_type.lower().startswith("multipart/"):
            items.append(_parse_changeset(part_type, content, number))
        else:
            items.append(_parse_operation(part, f"part {number} of the batch"))
    total = count_operations(items)
    if total > MAX_REQUESTS:
        raise BatchFormatError(
            "The current batch message contains too many parts. Only batch messages with a "
            f"maximum number of '{MAX_REQUESTS}' query operations, including changeset operations, "
            "are allowed.")
    return items


def count_operations(items: list[_Operation | _Changeset]) -> int:
    """The requests of a parsed batch: one per single part, one per request in each change set."""
    return sum(len(i.operations) if isinstance(i, _Changeset) else 1 for i in items)


# -------------------------------------------------------------------------------------- execution

class _RollBack(Exception):
    """Raised inside `transaction()` so a failed change set leaves nothing behind."""


def handle_batch(body: bytes, content_type: str, prefer: str,
                 execute: Callable[[SubRequest], SubResponse],
                 transaction: Callable[[], ContextManager]) -> BatchReply:
    """Parse a $batch request, execute its parts, and render the multipart response.

    Returns (body, content type) as a BatchReply, which also carries `.status` and `.headers`.
    """
    items = parse_batch(body, content_type)
    continue_on_error = prefers_continue_on_error(prefer)
    run = _Run(execute, transaction)
    parts: list[bytes] = []
    status = 200
    for item in items:
        if isinstance(item, _Changeset):
            part, failed_status = run.changeset(item)
        else:
            response = run.call(item.request)
            part = _http_part(response, item.content_id)
            failed_status = response.status if response.status >= 400 else None
        parts.append(part)
        if failed_status is not None and not continue_on_error:
            status = failed_status
            break
    boundary = f"batchresponse_{uuid.uuid4()}"
    headers = {"Preference-Applied": "odata.continue-on-error"} if continue_on_error else {}
    return BatchReply(_multipart(boundary, parts), f"multipart/mixed; boundary={boundary}",
                      status, headers, count_operations(items))


def prefers_continue_on_error(prefer: str | None) -> bool:
    """True when the Prefer header asks for `odata.continue-on-error` (4.01 `=true` allowed)."""
    for preference in (prefer or "").split(","):
        name, _, value = preference.partition("=")
        if name.strip().lower() == "odata.continue-on-error":
            return value.strip().strip('"').lower() in ("", "true")
    return False


class _Run:
    """Executes parts; a `DataverseFault` raised by `execute` counts as that part's answer."""

    def __init__(self, execute: Callable[[SubRequest], SubResponse],
                 transaction: Callable[[], ContextManager]):
        self.execute = execute
        self.transaction = transaction

    def call(self, request: SubRequest) -> SubResponse:
        try:
            return self.execute(request)
        except DataverseFault as fault:
            return fault_response(fault)

    def changeset(self, changeset: _Changeset) -> tuple[bytes, int | None]:
        """The rendered answer of an atomic change set and, if it failed, the failing status."""
        answered: list[tuple[str | None, SubResponse]] = []
        failure: tuple[str | None, SubResponse] | None = None
        try:
            with self.transaction():
                entity_urls: dict[str, str] = {}
                declared = {op.content_id for op in changeset.operations if op.content_id}
                for operation in changeset.operations:
                    try:
                        request = _with_references(operation.request, entity_urls, declared)
                        response = self.call(request)
                    except DataverseFault as fault:
                        response = fault_response(fault)
                    if response.status >= 400:
                        failure = (operation.content_id, response)
                        raise _RollBack
                    answered.append((operation.content_id, response))
                    url = _entity_url(response)
                    if operation.content_id and url:
                        entity_urls[operation.content_id] = url
        except _RollBack:
            pass
        if failure is not None:
            return _http_part(failure[1], failure[0]), failure[1].status
        inner = f"changesetresponse_{uuid.uuid4()}"
        body = _multipart(inner, [_http_part(r, cid) for cid, r in answered])
        head = f"Content-Type: multipart/mixed; boundary={inner}".encode("ascii")
        return head + CRLF + CRLF + body.rstrip(b"\r\n"), None


def fault_response(fault: DataverseFault) -> SubResponse:
    """A DataverseFault as the JSON error answer Dataverse gives."""
    answer = error_response(fault)
    return SubResponse(answer.status, answer.headers, answer.body)


# ---------------------------------------------------------------------------- Content-ID references

def _missing_reference(content_id: str) -> DataverseFault:
    return bad_request(
        f"Content-ID Reference: '${content_id}' does not exist in the batch context.")


def _with_references(request: SubRequest, entity_urls: Mapping[str, str],
                     declared: set[str]) -> SubRequest:
    """`$n` at the start of the URL and as `@odata.bind`/`@odata.id` values -> part n's entity."""
    url = request.url
    match = _URL_REFERENCE.match(url)
    if match and (match.group(1) in declared or match.group(1).isdigit()):
        if match.group(1) not in entity_urls:
            raise _missing_reference(match.group(1))
        url = entity_urls[match.group(1)] + match.group(2)
    body = request.body
    if b"$" in body:
        body = _BIND_MEMBER.sub(lambda m: m.group(1) + _REFERENCE_STRING.sub(
            lambda r: _bind_value(r, entity_urls, declared), m.group(2)), body)
    return SubRequest(request.method, url, request.headers, body)


def _bind_value(match: re.Match, entity_urls: Mapping[str, str], declared: set[str]) -> bytes:
    content_id = match.group(1).decode("utf-8", "replace")
    if content_id in entity_urls:
        return b'"' + _bind_path(entity_urls[content_id]).encode("utf-8") + b'"'
    if content_id in declared or content_id.isdigit():
        raise _missing_reference(content_id)
    return match.group(0)


def _bind_path(entity_url: str) -> str:
    """`http://host/api/data/v9.2/invoices(<guid>)` -> `/invoices(<guid>)`."""
    path = urlsplit(entity_url).path
    match = _API_PATH.search(path)
    return "/" + (match.group(1) if match else path.rsplit("/", 1)[-1])


def _entity_url(response: SubResponse) -> str | None:
    headers = Headers(response.headers)
    return headers.get("OData-EntityId") or headers.get("Location")


# -------------------------------------------------------------------------------------- rendering

def _http_part(response: SubResponse, content_id: str | None) -> bytes:
    """One `application/http` part holding an embedded HTTP response."""
    mime = ["Content-Type: application/http", "Content-Transfer-Encoding: binary"]
    if content_id is not None:
        mime.append(f"Content-ID: {content_id}")
    headers = Headers(response.headers)
    if "OData-Version" not in headers:
        headers["OData-Version"] = "4.0"
    lines = [f"HTTP/1.1 {response.status} {_reason(response.status)}"]
    lines += [f"{_clean(k)}: {_clean(v)}" for k, v in headers.items()
              if k.lower() not in ("content-length", "transfer-encoding", "connection")]
    head = "\r\n".join(mime).encode("utf-8") + CRLF + CRLF
    return head + "\r\n".join(lines).encode("utf-8") + CRLF + CRLF + (response.body or b"")


def _multipart(boundary: str, parts: Iterable[bytes]) -> bytes:
    delimiter = b"--" + boundary.encode("ascii")
    out = [delimiter + CRLF + part + CRLF for part in parts]
    return b"".join(out) + delimiter + b"--" + CRLF


def _reason(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Unknown"


def _clean(value: object) -> str:
    """Header text without line breaks, so a value can never start a new header."""
    return str(value).replace("\r", " ").replace("\n", " ")
