"""`$batch`: request wire format, answer parsing (change sets, continue-on-error), retries."""

from __future__ import annotations

import re
from decimal import Decimal

import pytest
import requests

from connectors.dataverse import Batch, errors
from connectors.dataverse.batch import parse_batch_response

from .conftest import API, error_json

BATCH = API + "$batch"
G1 = "e73ffc82-e292-ed11-aad1-000d3a9933c9"
G2 = "e83ffc82-e292-ed11-aad1-000d3a9933c9"
G3 = "e93ffc82-e292-ed11-aad1-000d3a9933c9"


def wire(text: str) -> bytes:
    """Dataverse answers with CRLF line ends."""
    return text.replace("\n", "\r\n").encode()


def http_part(
    status_line: str, headers: str = "", body: str = "", content_id: str | None = None
) -> str:
    cid = f"Content-ID: {content_id}\n" if content_id else ""
    head = f"HTTP/1.1 {status_line}\nOData-Version: 4.0\n{headers}"
    return (
        f"Content-Type: application/http\nContent-Transfer-Encoding: binary\n{cid}\n"
        f"{head}\n{body}\n"
    )


def created(entity_set: str, guid: str, content_id: str | None = None) -> str:
    url = f"{API}{entity_set}({guid})"
    return http_part("204 No Content", f"Location: {url}\nOData-EntityId: {url}\n", "", content_id)


def failed(status: str, code: str, message: str) -> str:
    body = '{"error":{"code":"%s","message":"%s"}}' % (code, message)
    return http_part(
        status,
        "REQ_ID: 5ecd1cb3-1730-4ffc-909c-d44c22270026\n"
        "Content-Type: application/json; odata.metadata=minimal\n",
        body,
    )


def multipart(boundary: str, parts: list[str]) -> str:
    return "".join(f"--{boundary}\n{p}" for p in parts) + f"--{boundary}--\n"


def changeset_answer(boundary: str, parts: list[str]) -> str:
    return f"Content-Type: multipart/mixed; boundary={boundary}\n\n" + multipart(boundary, parts)


def sample_batch() -> Batch:
    batch = Batch()
    batch.get("w365_subscriptions", params={"$select": "w365_name", "$filter": "statecode eq 0"})
    first = batch.changeset(tag="row-1")
    invoice = first.create(
        "invoices",
        {
            "name": "Inv",
            "totalamount": Decimal("12.50"),
            "invoice_details": [{"quantity": Decimal("1.0")}],
        },
    )
    first.update("w365_billingschedules", G3, {"w365_status": 2}, etag='W/"7"')
    first.create("w365_invoicerunitems", {"w365_Invoice@odata.bind": invoice})
    second = batch.changeset(tag="row-2")
    second.create("invoices", {"name": "Inv2"})
    return batch


def sample_answer(boundary: str, query_body: str = '{"value":[]}') -> str:
    """Every part of `sample_batch()` succeeded."""
    json_type = "Content-Type: application/json; odata.metadata=minimal\n"
    first = [
        created("invoices", G1, "1"),
        http_part("204 No Content", content_id="2"),
        created("w365_invoicerunitems", G2, "3"),
    ]
    return multipart(
        boundary,
        [
            http_part("200 OK", json_type, query_body),
            changeset_answer("changesetresponse_a", first),
            changeset_answer("changesetresponse_b", [created("invoices", G3, "4")]),
        ],
    )


def test_request_wire_format_follows_the_documented_shape():
    batch = sample_batch()
    assert len(batch) == 5
    body, content_type = batch.render("/api/data/v9.2/")
    text = body.decode()
    boundary = re.fullmatch(r"multipart/mixed; boundary=(batch_[0-9a-f-]{36})", content_type).group(
        1
    )
    assert "\n" not in text.replace("\r\n", "")  # CRLF everywhere
    lines = text.split("\r\n")
    assert lines[0] == f"--{boundary}" and lines[-2] == f"--{boundary}--" and lines[-1] == ""
    assert lines[1:4] == ["Content-Type: application/http", "Content-Transfer-Encoding: binary", ""]
    assert (
        lines[4]
        == "GET /api/data/v9.2/w365_subscriptions?$select=w365_name&$filter=statecode%20eq%200 HTTP/1.1"
    )
    changesets = re.findall(
        r"Content-Type: multipart/mixed; boundary=(changeset_[0-9a-f-]{36})", text
    )
    assert len(changesets) == 2 and changesets[0] != changesets[1]
    assert text.count(f"--{changesets[0]}\r\n") == 3 and text.count(f"--{changesets[0]}--") == 1
    assert re.findall(r"Content-ID: (\d+)", text) == ["1", "2", "3", "4"]
    assert (
        "POST /api/data/v9.2/invoices HTTP/1.1\r\nContent-Type: application/json; type=entry\r\n\r\n"
        '{"name":"Inv","totalamount":12.50,"invoice_details":[{"quantity":1.0}]}' in text
    )
    assert f'PATCH /api/data/v9.2/w365_billingschedules({G3}) HTTP/1.1\r\nIf-Match: W/"7"' in text
    assert '{"w365_Invoice@odata.bind":"$1"}' in text


def test_content_id_references_in_urls_and_get_inside_changeset_refused():
    batch = Batch()
    cs = batch.changeset()
    ref = cs.create("contacts", {"firstname": "A"})
    cs.update("contacts", ref, {"lastname": "B"})
    cs.delete("contacts", ref, etag='W/"1"')
    text = batch.render()[0].decode()
    assert "PATCH $1 HTTP/1.1" in text and 'DELETE $1 HTTP/1.1\r\nIf-Match: W/"1"' in text
    with pytest.raises(ValueError):
        cs.request("GET", "contacts")


def test_upsert_conditions_in_a_changeset():
    batch = Batch()
    cs = batch.changeset()
    cs.upsert(
        "w365_billingschedules",
        {"_w365_billingcontract_value": G1, "w365_cyclestart": "2026-01-01"},
        {"w365_status": 2},
        only_create=True,
    )
    cs.upsert("accounts", G2, {"name": "x"}, only_update=True)
    text = batch.render()[0].decode()
    assert (
        f"PATCH /api/data/v9.2/w365_billingschedules(_w365_billingcontract_value={G1},"
        "w365_cyclestart=2026-01-01) HTTP/1.1\r\nIf-None-Match: *"
    ) in text
    assert f"PATCH /api/data/v9.2/accounts({G2}) HTTP/1.1\r\nIf-Match: *" in text


def test_parse_success_with_nested_changeset_response_and_get():
    batch = sample_batch()
    answer = sample_answer("batchresponse_1", '{"value":[{"w365_name":"S","price":10.25}]}')
    result = parse_batch_response(batch, "multipart/mixed; boundary=batchresponse_1", wire(answer))
    assert result.ok
    assert result.requests[0].status == 200
    assert result.requests[0].json["value"][0]["price"] == Decimal("10.25")
    first, second = result.changesets
    assert (first.tag, first.ok, first.error) == ("row-1", True, None)
    assert [p.status for p in first.parts] == [204, 204, 204]
    assert (
        first.entity_id("$1") == G1
        and first.entity_id("$3") == G2
        and first.entity_id("$2") is None
    )
    assert [p.content_id for p in first.parts] == ["1", "2", "3"]
    assert second.entity_id("$4") == G3


def test_parse_accepts_lf_only_answers_like_the_docs_print_them():
    batch = Batch()
    batch.changeset().create("tasks", {"subject": "x"})
    answer = multipart(
        "batchresponse_x", [changeset_answer("changesetresponse_y", [created("tasks", G1, "1")])]
    )
    result = parse_batch_response(
        batch, 'multipart/mixed; boundary="batchresponse_x"', answer.encode()
    )
    assert result.changesets[0].entity_id("$1") == G1


def test_continue_on_error_failed_changeset_is_one_error_part(client, rsps):
    batch = sample_batch()
    answer = multipart(
        "batchresponse_2",
        [
            http_part("200 OK", "Content-Type: application/json\n", '{"value":[]}'),
            failed(
                "412 Precondition Failed",
                "0x80060882",
                "The version of the existing record doesn't match",
            ),
            changeset_answer("changesetresponse_c", [created("invoices", G3, "4")]),
        ],
    )
    rsps.post(
        BATCH,
        body=wire(answer),
        status=200,
        content_type="multipart/mixed; boundary=batchresponse_2",
    )
    result = client.execute_batch(batch, continue_on_error=True)
    sent = rsps.calls[0].request
    assert sent.headers["Prefer"] == "odata.continue-on-error"
    assert sent.headers["Content-Type"].startswith("multipart/mixed; boundary=batch_")
    first, second = result.changesets
    assert not first.ok and isinstance(first.error, errors.ConcurrencyError)
    assert first.error.request_id == "5ecd1cb3-1730-4ffc-909c-d44c22270026"
    assert len(first.parts) == 1 and first.parts[0].status == 412
    assert second.ok and second.entity_id("$4") == G3
    assert not result.ok


def test_without_continue_on_error_the_batch_stops_at_the_first_failure(client, rsps):
    batch = sample_batch()
    answer = multipart(
        "batchresponse_3",
        [
            http_part("200 OK", "Content-Type: application/json\n", '{"value":[]}'),
            failed(
                "403 Forbidden",
                "0x80040220",
                "Principal user is missing prvCreateInvoice privilege",
            ),
        ],
    )
    rsps.post(
        BATCH,
        body=wire(answer),
        status=403,
        content_type="multipart/mixed; boundary=batchresponse_3",
    )
    result = client.execute_batch(batch)
    assert "Prefer" not in rsps.calls[0].request.headers
    first, second = result.changesets
    assert (
        isinstance(first.error, errors.PrivilegeError) and "prvCreateInvoice" in first.error.message
    )
    assert (
        not second.ok and isinstance(second.error, errors.NotExecutedError) and second.parts == []
    )
    assert result.requests[0].ok


def test_a_failed_get_outside_changesets(client, rsps):
    batch = Batch()
    batch.get("nosuchset")
    answer = multipart(
        "batchresponse_4",
        [failed("404 Not Found", "0x80060888", "Resource not found for the segment 'nosuchset'.")],
    )
    rsps.post(
        BATCH,
        body=wire(answer),
        status=404,
        content_type="multipart/mixed; boundary=batchresponse_4",
    )
    part = client.execute_batch(batch).requests[0]
    assert part.status == 404 and isinstance(part.error, errors.NotFoundError) and not part.ok


def test_throttled_batch_is_retried_whole_with_the_same_body(client, rsps, fake_clock):
    batch = sample_batch()
    ok = sample_answer("batchresponse_5")
    rsps.post(
        BATCH, status=429, json=error_json("0x80072322", "throttled"), headers={"Retry-After": "2"}
    )
    rsps.post(BATCH, body=requests.ConnectionError("Connection reset by peer"))
    rsps.post(BATCH, status=503, json=error_json("0x80040216", "unavailable"))
    rsps.post(BATCH, body=wire(ok), content_type="multipart/mixed; boundary=batchresponse_5")
    result = client.execute_batch(batch, continue_on_error=True)
    assert result.ok
    assert fake_clock.sleeps[0] == 2.0 and len(fake_clock.sleeps) == 3
    bodies = {c.request.body for c in rsps.calls}
    assert len(bodies) == 1


def test_a_multipart_5xx_is_not_retried(client, rsps, fake_clock):
    batch = Batch()
    batch.changeset().create("tasks", {})
    answer = multipart("batchresponse_6", [failed("503 Service Unavailable", "0x80040216", "busy")])
    rsps.post(
        BATCH,
        body=wire(answer),
        status=503,
        content_type="multipart/mixed; boundary=batchresponse_6",
    )
    result = client.execute_batch(batch)
    assert isinstance(result.changesets[0].error, errors.ServiceUnavailableError)
    assert fake_clock.sleeps == []


def test_batch_level_error_without_multipart_raises(client, rsps):
    batch = Batch()
    batch.changeset().create("tasks", {})
    rsps.post(BATCH, status=400, json=error_json("0x80040203", "malformed batch"))
    with pytest.raises(errors.BadRequestError, match="malformed batch"):
        client.execute_batch(batch)


def test_more_than_1000_operations_are_refused_client_side(client, rsps):
    batch = Batch()
    for i in range(501):
        cs = batch.changeset(tag=i)
        cs.create("tasks", {})
        cs.create("tasks", {})
    assert len(batch) == 1002
    with pytest.raises(errors.BatchTooLargeError):
        client.execute_batch(batch)
    assert len(rsps.calls) == 0


def test_empty_batch_and_empty_changesets_send_nothing(client, rsps):
    batch = Batch()
    batch.changeset(tag="empty")
    result = client.execute_batch(batch)
    assert result.changesets[0].ok and result.changesets[0].tag == "empty"
    assert len(rsps.calls) == 0
