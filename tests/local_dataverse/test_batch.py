"""`$batch`: Dataverse semantics with a fake `execute`, checked against the documented wire examples."""
from __future__ import annotations

import copy
import email
import email.policy
import json
import re
import uuid
from contextlib import contextmanager
from dataclasses import dataclass, field
from decimal import Decimal
from urllib.parse import urlsplit

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from connectors.dataverse.batch import Batch, parse_batch_response
from connectors.local_dataverse.batch import (
    MAX_REQUESTS,
    BatchFormatError,
    SubRequest,
    SubResponse,
    handle_batch,
)
from connectors.local_dataverse.errors import DataverseFault

ORG = "http://fake.local"
API = "/api/data/v9.2/"


def error(status: int, code: str, message: str) -> SubResponse:
    body = json.dumps({"error": {"code": code, "message": message}}).encode()
    return SubResponse(status, {"Content-Type": "application/json; odata.metadata=minimal",
                                "OData-Version": "4.0"}, body)


class FakeDataverse:
    """Entity sets of dicts; a POST whose body has `"fail": true` (or a too-long subject) answers 400."""

    def __init__(self) -> None:
        self.rows: dict[str, dict[str, dict]] = {}
        self.calls: list[SubRequest] = []
        self.events: list[str] = []

    @contextmanager
    def transaction(self):
        snapshot = copy.deepcopy(self.rows)
        self.events.append("begin")
        try:
            yield
        except BaseException:
            self.rows = snapshot
            self.events.append("rollback")
            raise
        self.events.append("commit")

    def execute(self, request: SubRequest) -> SubResponse:
        self.calls.append(request)
        path = urlsplit(request.url).path
        path = path.split(API, 1)[1] if API in path else path.lstrip("/")
        match = re.fullmatch(r"(\w+)(?:\(([0-9a-f-]{36})\))?(?:/(\w+))?", path)
        if not match:
            return error(404, "0x80060888", f"Resource not found for the segment '{path}'.")
        entity_set, ident, attribute = match.groups()
        table = self.rows.setdefault(entity_set, {})
        if request.method == "GET":
            if ident:
                row = table.get(ident)
                return self._json(row) if row else error(404, "0x80040217", "Does Not Exist")
            return self._json({"value": list(table.values())})
        if request.method == "POST" and not ident:
            record = json.loads(request.body, parse_float=Decimal)
            if record.get("fail") or len(record.get("subject", "")) > 200:
                return error(400, "0x80044331", "A validation error occurred.")
            for key, value in record.items():
                binds = value if isinstance(value, list) else [value]
                if key.endswith("@odata.bind") and not all(self._exists(b) for b in binds):
                    return error(400, "0x80040217", f"bind target {value} does not exist")
            new_id = str(uuid.uuid4())
            table[new_id] = {**record, f"{entity_set}id": new_id}
            url = f"{ORG}{API}{entity_set}({new_id})"
            return SubResponse(204, {"OData-Version": "4.0", "Location": url, "OData-EntityId": url}, b"")
        if ident not in table:
            return error(404, "0x80040217", f"{entity_set} With Id = {ident} Does Not Exist")
        if request.method in ("PATCH", "PUT"):
            changes = json.loads(request.body, parse_float=Decimal)
            if attribute:
                changes = {attribute: changes["value"]}
            if changes.get("fail"):
                return error(400, "0x80044331", "A validation error occurred.")
            table[ident].update(changes)
            url = f"{ORG}{API}{entity_set}({ident})"
            return SubResponse(204, {"OData-Version": "4.0", "OData-EntityId": url}, b"")
        if request.method == "DELETE":
            del table[ident]
            return SubResponse(204, {"OData-Version": "4.0"}, b"")
        return error(405, "0x80060888", "method not allowed")

    def _exists(self, bind: str) -> bool:
        match = re.fullmatch(r"/?(\w+)\(([0-9a-f-]{36})\)", bind)
        return bool(match) and match.group(2) in self.rows.get(match.group(1), {})

    @staticmethod
    def _json(value) -> SubResponse:
        return SubResponse(200, {"Content-Type": "application/json; odata.metadata=minimal"},
                           json.dumps(value, default=str).encode())


@dataclass
class Part:
    """One embedded HTTP response, read with the stdlib email parser (independent of ours)."""

    status: int
    reason: str
    headers: dict[str, str]
    body: bytes
    content_id: str | None
    mime: dict[str, str] = field(default_factory=dict)

    def json(self):
        return json.loads(self.body, parse_float=Decimal)


def read_response(body: bytes, content_type: str) -> list[Part | list[Part]]:
    """Top-level items: a Part, or a list of Parts for a change-set response."""
    message = email.message_from_bytes(b"Content-Type: " + content_type.encode() + b"\r\n\r\n" + body,
                                       policy=email.policy.HTTP)
    if not message.is_multipart():  # the stdlib reads a multipart without parts as a leaf
        boundary = content_type.split("boundary=")[1]
        assert body == f"--{boundary}--\r\n".encode(), body
        return []
    return [_item(item) for item in message.get_payload()]


def _item(item) -> Part | list[Part]:
    if item.is_multipart():
        return [_part(p) for p in item.get_payload()]
    if item.get_content_type() == "multipart/mixed":  # an empty change set's answer
        return []
    return _part(item)


def _part(item) -> Part:
    assert item.get_content_type() == "application/http"
    assert item["Content-Transfer-Encoding"] == "binary"
    payload = item.get_payload(decode=True)
    head, _, body = payload.partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode().split("\r\n")
    version, status, reason = status_line.split(" ", 2)
    assert version == "HTTP/1.1"
    headers = dict(line.split(": ", 1) for line in header_lines)
    return Part(int(status), reason, headers, body, item["Content-ID"], dict(item.items()))


def crlf(text: str) -> bytes:
    """A documented example (written with LF) with the CRLF line ends the wire uses."""
    return text.replace("\r\n", "\n").replace("\n", "\r\n").encode()


def run(dv: FakeDataverse, body: bytes, content_type: str, prefer: str = ""):
    reply = handle_batch(body, content_type, prefer, dv.execute, dv.transaction)
    out_body, out_type = reply
    return reply, read_response(out_body, out_type)


ACCOUNT = "00000000-0000-0000-0000-000000000001"


def with_account(dv: FakeDataverse) -> None:
    dv.rows["accounts"] = {ACCOUNT: {"name": "Contoso", "accountsid": ACCOUNT}}


# --- Microsoft Learn, "Execute batch operations using the Web API": request examples -------------

TASKS_BATCH = """\
--batch_80dd1615-2a10-428a-bb6f-0e559792721f
Content-Type: application/http
Content-Transfer-Encoding: binary

POST /api/data/v9.2/tasks HTTP/1.1
Content-Type: application/json; type=entry

{
  "subject": "Task 1 in batch",
  "regardingobjectid_account_task@odata.bind": "accounts(00000000-0000-0000-0000-000000000001)"
}
--batch_80dd1615-2a10-428a-bb6f-0e559792721f
Content-Type: application/http
Content-Transfer-Encoding: binary

POST /api/data/v9.2/tasks HTTP/1.1
Content-Type: application/json; type=entry

{
  "subject": "Task 2 in batch",
  "regardingobjectid_account_task@odata.bind": "accounts(00000000-0000-0000-0000-000000000001)"
}
--batch_80dd1615-2a10-428a-bb6f-0e559792721f
Content-Type: application/http
Content-Transfer-Encoding: binary

GET /api/data/v9.2/tasks?$select=subject HTTP/1.1


--batch_80dd1615-2a10-428a-bb6f-0e559792721f--
"""
TASKS_TYPE = 'multipart/mixed; boundary="batch_80dd1615-2a10-428a-bb6f-0e559792721f"'

CHANGESET_BATCH = """\
--batch_22975cad-7f57-410d-be15-6363209367ea
Content-Type: multipart/mixed; boundary="changeset_246e6bfe-89a4-4c77-b293-7a433f082e8a"

--changeset_246e6bfe-89a4-4c77-b293-7a433f082e8a
Content-Type: application/http
Content-Transfer-Encoding: binary
Content-ID: 1

POST /api/data/v9.2/tasks HTTP/1.1
Content-Type: application/json; type=entry

{"subject": "Task 1 in batch"}
--changeset_246e6bfe-89a4-4c77-b293-7a433f082e8a
Content-Type: application/http
Content-Transfer-Encoding: binary
Content-ID: 2

POST /api/data/v9.2/tasks HTTP/1.1
Content-Type: application/json; type=entry

{"subject": "Task 2 in batch"}
--changeset_246e6bfe-89a4-4c77-b293-7a433f082e8a--

--batch_22975cad-7f57-410d-be15-6363209367ea
Content-Type: application/http
Content-Transfer-Encoding: binary

GET /api/data/v9.2/tasks?$select=subject HTTP/1.1


--batch_22975cad-7f57-410d-be15-6363209367ea--
"""
CHANGESET_TYPE = 'multipart/mixed; boundary="batch_22975cad-7f57-410d-be15-6363209367ea"'

REFERENCE_BATCH = """\
--batch_AAA123
Content-Type: multipart/mixed; boundary=changeset_dd81ccab-11ce-4d57-b91d-12c4e25c3cab

--changeset_dd81ccab-11ce-4d57-b91d-12c4e25c3cab
Content-Type: application/http
Content-Transfer-Encoding: binary
Content-ID: 1

POST http://fake.local/api/data/v9.2/leads HTTP/1.1
Content-Type: application/json

{
    "firstname":"first name",
    "lastname":"last name"
}

--changeset_dd81ccab-11ce-4d57-b91d-12c4e25c3cab
Content-Type: application/http
Content-Transfer-Encoding: binary
Content-ID: 2

POST http://fake.local/api/data/v9.2/contacts HTTP/1.1
Content-Type: application/json

{"firstname":"first name"}

--changeset_dd81ccab-11ce-4d57-b91d-12c4e25c3cab
Content-Type: application/http
Content-Transfer-Encoding: binary
Content-ID: 3

POST http://fake.local/api/data/v9.2/accounts HTTP/1.1
Content-Type: application/json

{
    "name":"IcM Account",
    "originatingleadid@odata.bind":"$1",
    "primarycontactid@odata.bind":"$2"
}

--changeset_dd81ccab-11ce-4d57-b91d-12c4e25c3cab
Content-Transfer-Encoding: binary
Content-Type: application/http
Content-ID: 4

PUT $2/lastname HTTP/1.1
Content-Type: application/json

{
  "value":"BBBBB"
}

--changeset_dd81ccab-11ce-4d57-b91d-12c4e25c3cab
Content-Type:application/http
Content-Transfer-Encoding:binary
Content-ID:5

PATCH $3 HTTP/1.1
Content-Type: application/json

{
  "primarycontactid@odata.bind":"$2"
}

--changeset_dd81ccab-11ce-4d57-b91d-12c4e25c3cab--
--batch_AAA123--
"""
REFERENCE_TYPE = "multipart/mixed;boundary=batch_AAA123"

UNDECLARED_REFERENCE_BATCH = """\
--batch_AAA123
Content-Type: multipart/mixed; boundary=changeset_BBB456

--changeset_BBB456
Content-Type: application/http
Content-Transfer-Encoding:binary
Content-ID: 2

POST http://fake.local/api/data/v9.2/phonecalls HTTP/1.1
Content-Type: application/json;type=entry

{
    "phonenumber":"911",
    "regardingobjectid_account_phonecall@odata.bind" : "$1"
}

--changeset_BBB456
Content-Type: application/http
Content-Transfer-Encoding:binary
Content-ID: 1

POST http://fake.local/api/data/v9.2/accounts HTTP/1.1
Content-Type: application/json;type=entry

{
    "name":"QQQQ",
    "revenue": 1.50
}

--changeset_BBB456--
--batch_AAA123--
"""


def error_batch(boundary: str = "batch_431faf5a") -> str:
    long_subject = "Subject is too long " + "x" * 200
    parts = [f'{{"subject": "{long_subject}"}}', '{"subject": "Task 2 in batch"}',
             '{"subject": "Task 3 in batch"}']
    out = ""
    for body in parts:
        out += (f"--{boundary}\nContent-Type: application/http\nContent-Transfer-Encoding: binary\n"
                f"Content-Length: {len(body) + 80}\n\nPOST /api/data/v9.2/tasks HTTP/1.1\n"
                f"Content-Type: application/json; type=entry\n\n{body}\n")
    return out + f"--{boundary}--\n"


# --- documented examples -------------------------------------------------------------------------

@pytest.mark.parametrize("line_ends", ["crlf", "lf"])
def test_batch_without_change_sets_as_documented(line_ends):
    dv = FakeDataverse()
    with_account(dv)
    body = crlf(TASKS_BATCH) if line_ends == "crlf" else TASKS_BATCH.encode()
    reply, parts = run(dv, body, TASKS_TYPE)
    assert reply.status == 200 and reply.headers == {}
    assert [p.status for p in parts] == [204, 204, 200]
    assert parts[0].reason == "No Content" and parts[2].reason == "OK"
    assert parts[0].headers["OData-EntityId"].startswith(f"{ORG}{API}tasks(")
    assert parts[0].headers["OData-Version"] == "4.0"
    assert {t["subject"] for t in parts[2].json()["value"]} == {"Task 1 in batch", "Task 2 in batch"}
    get = dv.calls[2]
    assert (get.method, get.url, get.body) == ("GET", "/api/data/v9.2/tasks?$select=subject", b"")
    post = dv.calls[0]
    assert post.headers["content-type"] == "application/json; type=entry"  # any case
    assert json.loads(post.body)["regardingobjectid_account_task@odata.bind"] == f"accounts({ACCOUNT})"


def test_response_wire_shape_matches_the_documented_response():
    dv = FakeDataverse()
    with_account(dv)
    reply = handle_batch(crlf(TASKS_BATCH), TASKS_TYPE, "", dv.execute, dv.transaction)
    body, content_type = reply
    boundary = re.fullmatch(r"multipart/mixed; boundary=(batchresponse_[0-9a-f-]{36})", content_type).group(1)
    first_part = (f"--{boundary}\r\nContent-Type: application/http\r\nContent-Transfer-Encoding: binary"
                  f"\r\n\r\nHTTP/1.1 204 No Content\r\n")
    assert body.startswith(first_part.encode())
    assert body.endswith(f"\r\n--{boundary}--\r\n".encode())
    assert body.count(f"--{boundary}\r\n".encode()) == 3


def test_change_set_as_documented():
    dv = FakeDataverse()
    reply, parts = run(dv, crlf(CHANGESET_BATCH), CHANGESET_TYPE)
    assert reply.status == 200
    changeset, get = parts
    assert [(p.content_id, p.status) for p in changeset] == [("1", 204), ("2", 204)]
    assert len(get.json()["value"]) == 2
    assert dv.events == ["begin", "commit"]
    body, _ = reply
    assert re.search(rb"Content-Type: multipart/mixed; boundary=changesetresponse_[0-9a-f-]{36}\r\n\r\n"
                     rb"--changesetresponse_", body)


@pytest.mark.parametrize("line_ends", ["crlf", "lf"])
def test_content_id_references_in_urls_and_binds(line_ends):
    dv = FakeDataverse()
    body = crlf(REFERENCE_BATCH) if line_ends == "crlf" else REFERENCE_BATCH.encode()
    reply, [changeset] = run(dv, body, REFERENCE_TYPE)
    assert [(p.content_id, p.status) for p in changeset] == [(str(i), 204) for i in range(1, 6)]
    lead, contact = next(iter(dv.rows["leads"])), next(iter(dv.rows["contacts"]))
    account_id, account = next(iter(dv.rows["accounts"].items()))
    assert account["originatingleadid@odata.bind"] == f"/leads({lead})"
    assert account["primarycontactid@odata.bind"] == f"/contacts({contact})"
    assert dv.rows["contacts"][contact]["lastname"] == "BBBBB"
    assert dv.calls[3].url == f"{ORG}{API}contacts({contact})/lastname"
    assert dv.calls[4].url == f"{ORG}{API}accounts({account_id})"
    assert json.loads(dv.calls[4].body) == {"primarycontactid@odata.bind": f"/contacts({contact})"}


def test_a_reference_before_its_declaration_fails_the_change_set():
    dv = FakeDataverse()
    reply, parts = run(dv, crlf(UNDECLARED_REFERENCE_BATCH), REFERENCE_TYPE)
    assert reply.status == 400
    [failure] = parts
    assert (failure.status, failure.content_id) == (400, "2")
    assert failure.json()["error"]["message"] == (
        "Content-ID Reference: '$1' does not exist in the batch context.")
    assert dv.calls == [] and dv.events == ["begin", "rollback"]


def test_without_continue_on_error_the_batch_stops_at_the_first_failure():
    dv = FakeDataverse()
    reply, parts = run(dv, crlf(error_batch()), "multipart/mixed; boundary=batch_431faf5a")
    assert reply.status == 400 and "Preference-Applied" not in reply.headers
    [failure] = parts
    assert failure.status == 400 and failure.reason == "Bad Request"
    assert failure.json()["error"]["code"] == "0x80044331"
    assert len(dv.calls) == 1 and dv.rows.get("tasks", {}) == {}


def test_with_continue_on_error_every_part_runs():
    dv = FakeDataverse()
    reply, parts = run(dv, crlf(error_batch()), "multipart/mixed; boundary=batch_431faf5a",
                       prefer="odata.continue-on-error")
    assert reply.status == 200
    assert reply.headers == {"Preference-Applied": "odata.continue-on-error"}
    assert [p.status for p in parts] == [400, 204, 204]
    assert len(dv.rows["tasks"]) == 2


# --- change-set atomicity and stopping -----------------------------------------------------------

def build(items: list) -> tuple[bytes, str]:
    """A batch from ("GET", url) tuples and lists of (method, url, json) change-set requests."""
    out = []
    for n, item in enumerate(items):
        out.append("--batch_t")
        if isinstance(item, list):
            out += [f"Content-Type: multipart/mixed; boundary=changeset_{n}", ""]
            for cid, (method, url, payload) in enumerate(item, 1):
                out += [f"--changeset_{n}", "Content-Type: application/http",
                        "Content-Transfer-Encoding: binary", f"Content-ID: {cid}", "",
                        f"{method} {url} HTTP/1.1", "Content-Type: application/json", "",
                        json.dumps(payload)]
            out.append(f"--changeset_{n}--")
        else:
            out += ["Content-Type: application/http", "Content-Transfer-Encoding: binary", "",
                    f"{item[0]} {item[1]} HTTP/1.1", "", ""]
    out.append("--batch_t--")
    return "\r\n".join(out).encode(), "multipart/mixed; boundary=batch_t"


def invoice_changeset(name: str, fail_at: int | None = None) -> list:
    parts = [("POST", "invoices", {"name": name}),
             ("POST", "invoicedetails", {"invoice@odata.bind": "$1", "amount": 1}),
             ("PATCH", "$1", {"status": "billed"})]
    if fail_at is not None:
        method, url, payload = parts[fail_at - 1]
        parts[fail_at - 1] = (method, url, {**payload, "fail": True})
    return parts


@pytest.mark.parametrize("fail_at", [1, 2, 3])
def test_a_failed_change_set_is_one_error_part_and_nothing_persists(fail_at):
    dv = FakeDataverse()
    body, content_type = build([invoice_changeset("A", fail_at=fail_at)])
    reply, parts = run(dv, body, content_type, prefer="odata.continue-on-error")
    [failure] = parts
    assert isinstance(failure, Part)
    assert (failure.status, failure.content_id) == (400, str(fail_at))
    assert failure.json()["error"]["code"] == "0x80044331"
    assert dv.rows.get("invoices", {}) == {} and dv.rows.get("invoicedetails", {}) == {}
    assert dv.events == ["begin", "rollback"]
    assert len(dv.calls) == fail_at


def test_change_sets_are_independent_with_continue_on_error():
    dv = FakeDataverse()
    body, content_type = build([invoice_changeset("A"), invoice_changeset("B", fail_at=3),
                                invoice_changeset("C"), ("GET", "invoices")])
    reply, parts = run(dv, body, content_type, prefer="odata.continue-on-error")
    assert reply.status == 200
    first, failed, third, get = parts
    assert [p.status for p in first] == [204, 204, 204]
    assert isinstance(failed, Part) and failed.status == 400 and failed.content_id == "3"
    assert [p.content_id for p in third] == ["1", "2", "3"]
    assert sorted(r["name"] for r in get.json()["value"]) == ["A", "C"]
    assert dv.events == ["begin", "commit", "begin", "rollback", "begin", "commit"]
    detail = next(r for r in dv.rows["invoicedetails"].values())
    assert re.fullmatch(r"/invoices\([0-9a-f-]{36}\)", detail["invoice@odata.bind"])


def test_without_continue_on_error_a_failed_change_set_ends_the_batch():
    dv = FakeDataverse()
    body, content_type = build([("GET", "invoices"), invoice_changeset("A"),
                                invoice_changeset("B", fail_at=2), invoice_changeset("C")])
    reply, parts = run(dv, body, content_type)
    assert reply.status == 400
    assert len(parts) == 3  # what ran, up to and including the failure
    assert isinstance(parts[1], list) and isinstance(parts[2], Part)
    assert [r["name"] for r in dv.rows["invoices"].values()] == ["A"]


def test_a_failed_get_stops_the_batch_with_its_status():
    dv = FakeDataverse()
    body, content_type = build([("GET", f"invoices({uuid.uuid4()})"), invoice_changeset("A")])
    reply, parts = run(dv, body, content_type)
    assert reply.status == 404 and [p.status for p in parts] == [404]
    assert "invoices" not in dv.rows or dv.rows["invoices"] == {}


def test_a_fault_raised_by_execute_is_that_parts_answer():
    dv = FakeDataverse()

    def execute(request: SubRequest) -> SubResponse:
        if request.method == "PATCH":
            raise DataverseFault(412, "0x80060882", "The version of the existing record doesn't match")
        return dv.execute(request)

    body, content_type = build([invoice_changeset("A")])
    reply = handle_batch(body, content_type, "", execute, dv.transaction)
    [failure] = read_response(*reply)
    assert reply.status == 412 and failure.status == 412 and failure.reason == "Precondition Failed"
    assert failure.json() == {"error": {"code": "0x80060882",
                                        "message": "The version of the existing record doesn't match"}}
    assert dv.rows.get("invoices", {}) == {}


def test_deep_insert_binds_are_replaced_and_numbers_stay_exact():
    dv = FakeDataverse()
    changeset = [("POST", "products", {"name": "P"}), ("POST", "invoices", {"name": "I"})]
    body, content_type = build([changeset])
    body = body.replace(b'{"name": "I"}', b'{"name": "I", "total": 12.3400, "invoice_details": '
                                          b'[{"productid@odata.bind": "$1", "price": 1.10}], '
                                          b'"note": "$1 stays text", "refs@odata.bind": ["$1"]}')
    run(dv, body, content_type)
    product = next(iter(dv.rows["products"]))
    sent = dv.calls[1].body
    assert b'"total": 12.3400' in sent and b'"price": 1.10' in sent
    assert json.loads(sent)["invoice_details"][0]["productid@odata.bind"] == f"/products({product})"
    assert json.loads(sent)["refs@odata.bind"] == [f"/products({product})"]
    assert json.loads(sent)["note"] == "$1 stays text"


def test_urls_pass_through_unchanged_outside_references():
    dv = FakeDataverse()
    body, content_type = build([("GET", "accounts?$filter=name eq 'a'"),
                                ("GET", f"{ORG}{API}accounts"), ("GET", "/api/data/v9.2/accounts")])
    run(dv, body, content_type)
    assert [c.url for c in dv.calls] == ["accounts?$filter=name eq 'a'", f"{ORG}{API}accounts",
                                         "/api/data/v9.2/accounts"]


# --- the connector's builder is understood, and our answer is understood by its parser ----------

def test_round_trip_with_the_connectors_batch_builder():
    dv = FakeDataverse()
    batch = Batch()
    batch.get("invoices", params={"$select": "name"})
    good = batch.changeset(tag="row-1")
    invoice = good.create("invoices", {"name": "A", "total": Decimal("10.5000")})
    good.create("invoicedetails", {"invoice@odata.bind": invoice, "amount": Decimal("1.25")})
    good.update("invoices", invoice, {"status": "billed"})
    bad = batch.changeset(tag="row-2")
    bad.create("invoices", {"name": "B"})
    bad.create("invoicedetails", {"fail": True})
    body, content_type = batch.render()
    reply = handle_batch(body, content_type, "odata.continue-on-error", dv.execute, dv.transaction)
    result = parse_batch_response(batch, reply[1], reply[0])
    assert result.requests[0].status == 200
    first, second = result.changesets
    assert first.tag == "row-1" and first.ok
    created = first.entity_id(invoice)
    assert dv.rows["invoices"][created]["status"] == "billed"
    assert dv.rows["invoices"][created]["total"] == Decimal("10.5000")
    assert not second.ok and second.error.status == 400
    assert [r["name"] for r in dv.rows["invoices"].values()] == ["A"]


# --- limits and malformed bodies -----------------------------------------------------------------

def test_a_thousand_requests_are_fine_but_not_more():
    dv = FakeDataverse()
    body, content_type = build([("GET", "accounts")] * MAX_REQUESTS)
    reply = handle_batch(body, content_type, "", dv.execute, dv.transaction)
    assert reply.status == 200 and reply[0].count(b"\r\n\r\nHTTP/1.1 200 OK\r\n") == MAX_REQUESTS
    body, content_type = build([("GET", "accounts")] * 500 + [[("POST", "accounts", {})] * 501])
    with pytest.raises(BatchFormatError, match="The current batch message contains too many parts. "
                                               "Only batch messages with a maximum number of '1000'"):
        handle_batch(body, content_type, "", dv.execute, dv.transaction)
    body, content_type = build([[("POST", "accounts", {})] * 1001])
    with pytest.raises(BatchFormatError,
                       match="maximum number of '1000' operations are allowed in a change set"):
        handle_batch(body, content_type, "", dv.execute, dv.transaction)


def changeset_with(part: str) -> bytes:
    return crlf("--b\nContent-Type: multipart/mixed; boundary=c\n\n--c\n" + part + "\n--c--\n--b--\n")


@pytest.mark.parametrize("body, content_type, message", [
    (b"--b--", "application/json", "must have Content-Type multipart/mixed"),
    (b"--b--", "multipart/mixed", "has no boundary"),
    (crlf("--b\nContent-Type: application/http\n\nGET accounts HTTP/1.1\n\n"), "multipart/mixed; boundary=b",
     "does not end with its closing boundary '--b--'"),
    (crlf("--b\nContent-Type: text/plain\n\nhello\n--b--\n"), "multipart/mixed; boundary=b",
     "must have Content-Type application/http"),
    (crlf("--b\nContent-Type: application/http\n\nGET\n--b--\n"), "multipart/mixed; boundary=b",
     "Malformed request line in part 1 of the batch: 'GET'"),
    (crlf("--b\nContent-Type: application/http\n\nBREW accounts HTTP/1.1\n--b--\n"),
     "multipart/mixed; boundary=b", "Unsupported HTTP method 'BREW'"),
    (crlf("--b\nContent-Type: application/http\n\nPOST /api/data/v9.2/$batch HTTP/1.1\n--b--\n"),
     "multipart/mixed; boundary=b", "cannot contain another batch"),
    (crlf("--b\nContent-Type application/http\n\nGET a HTTP/1.1\n--b--\n"), "multipart/mixed; boundary=b",
     "Malformed header line"),
    (changeset_with("Content-Type: application/http\nContent-ID: 1\n\nGET accounts HTTP/1.1\n"),
     "multipart/mixed; boundary=b", "GET requests are not allowed inside a change set"),
    (changeset_with("Content-Type: multipart/mixed; boundary=d\n\n--d--\n"),
     "multipart/mixed; boundary=b", "Change sets cannot be nested"),
    (crlf("--b\nContent-Type: multipart/mixed; boundary=c\n\n"
          "--c\nContent-Type: application/http\nContent-ID: 1\n\nPOST a HTTP/1.1\n\n{}\n"
          "--c\nContent-Type: application/http\nContent-ID: 1\n\nPOST a HTTP/1.1\n\n{}\n--c--\n--b--\n"),
     "multipart/mixed; boundary=b", "Content-ID values must be unique"),
])
def test_malformed_batches_raise_batch_format_error(body, content_type, message):
    dv = FakeDataverse()
    with pytest.raises(BatchFormatError) as raised:
        handle_batch(body, content_type, "", dv.execute, dv.transaction)
    assert message in str(raised.value)
    assert dv.calls == []


def test_an_empty_batch_answers_an_empty_multipart():
    reply, parts = run(FakeDataverse(), b"--b--\r\n", "multipart/mixed; boundary=b")
    assert reply.status == 200 and parts == []


@pytest.mark.parametrize("prefer, honoured", [
    ("odata.continue-on-error", True), ('return=representation, odata.continue-on-error', True),
    ("odata.continue-on-error=true", True), ("odata.continue-on-error=false", False),
    ("", False), ("odata.maxpagesize=10", False),
])
def test_prefer_header_parsing(prefer, honoured):
    reply, _ = run(FakeDataverse(), b"--b--\r\n", "multipart/mixed; boundary=b", prefer)
    assert ("Preference-Applied" in reply.headers) == honoured


ANSWER = SubResponse(200, {"OData-Version": "4.0"}, b"{}")


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from([
    b"--b", b"--b--", b"--c", b"--c--", b"Content-Type: application/http",
    b"Content-Type: multipart/mixed; boundary=c", b"Content-ID: 1", b"", b"GET accounts HTTP/1.1",
    b"POST $1/x HTTP/1.1", b"PATCH $2 HTTP/1.1", b'{"a@odata.bind": "$1"}', b"x: y", b"junk", b"\r",
]), max_size=25), st.sampled_from([b"\r\n", b"\n"]))
def test_any_body_either_parses_or_raises_batch_format_error(lines, line_end):
    body = line_end.join(lines)
    try:
        reply = handle_batch(body, "multipart/mixed; boundary=b", "odata.continue-on-error",
                             lambda request: ANSWER, FakeDataverse().transaction)
    except BatchFormatError:
        return
    read_response(*reply)
