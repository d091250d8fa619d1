"""`$batch` end to end over HTTP against the in-process local Dataverse, driven by raw `requests`."""
from __future__ import annotations

import json
import uuid
from decimal import Decimal

import pytest
import requests

from tests.local_dataverse.test_batch import read_response

AUTH = {"Authorization": "Bearer local-dev-token"}
BIND = "parentcustomerid_account@odata.bind"  # a contact's parent account


def request_part(method: str, url: str, payload: dict | None = None, content_id: int | None = None) -> str:
    mime = "Content-Type: application/http\r\nContent-Transfer-Encoding: binary\r\n"
    if content_id is not None:
        mime += f"Content-ID: {content_id}\r\n"
    head = f"{method} {url} HTTP/1.1\r\n"
    if payload is None:
        return mime + "\r\n" + head + "\r\n"
    return mime + "\r\n" + head + "Content-Type: application/json\r\n\r\n" + json.dumps(payload)


def body_of(*items) -> tuple[bytes, str]:
    """Items: a rendered request part, or a list of them (a change set; Content-IDs given by caller)."""
    out = ""
    for item in items:
        out += "--batch_e2e\r\n"
        if isinstance(item, list):
            inner = f"changeset_{uuid.uuid4()}"
            out += f"Content-Type: multipart/mixed; boundary={inner}\r\n\r\n"
            out += "".join(f"--{inner}\r\n{part}\r\n" for part in item) + f"--{inner}--\r\n"
        else:
            out += item + "\r\n"
    return (out + "--batch_e2e--\r\n").encode(), "multipart/mixed; boundary=batch_e2e"


def post_batch(dv, *items, prefer: str | None = None) -> requests.Response:
    body, content_type = body_of(*items)
    headers = {**AUTH, "Content-Type": content_type}
    if prefer:
        headers["Prefer"] = prefer
    return requests.post(dv.api_url + "$batch", data=body, headers=headers, timeout=30)


def parts_of(response: requests.Response):
    return read_response(response.content, response.headers["Content-Type"])


def names(dv, entity_set: str, name_column: str, value: str) -> list:
    response = requests.get(dv.api_url + entity_set, headers=AUTH, timeout=30,
                            params={"$select": name_column, "$filter": f"{name_column} eq '{value}'"})
    assert response.status_code == 200, response.text
    return response.json()["value"]


@pytest.fixture
def dv(local_dataverse):
    requests.post(local_dataverse.url + "/_admin/stats/reset", timeout=10)
    return local_dataverse


def test_change_set_with_content_id_references_is_one_http_request(dv):
    name = f"Batch Co {uuid.uuid4()}"
    response = post_batch(
        dv,
        [request_part("POST", "/api/data/v9.2/accounts", {"name": name}, 1),
         request_part("POST", "contacts", {"fullname": "Jo Batch", BIND: "$1"}, 2),
         request_part("PATCH", "$1", {"emailaddress1": "billing@batch.example"}, 3)],
        request_part("GET", f"{dv.api_url}accounts?$select=name,emailaddress1"
                            f"&$filter=name%20eq%20'{name.upper()}'"),  # absolute URL, any case
    )
    assert response.status_code == 200, response.text
    assert response.headers["Content-Type"].startswith("multipart/mixed; boundary=batchresponse_")
    changeset, query = parts_of(response)
    assert [(p.content_id, p.status) for p in changeset] == [("1", 204), ("2", 204), ("3", 204)]
    account_url = changeset[0].headers["OData-EntityId"]
    account_id = account_url.rsplit("(", 1)[1].rstrip(")")
    [row] = query.json()["value"]
    assert row["emailaddress1"] == "billing@batch.example" and row["name"] == name
    stats = requests.get(dv.url + "/_admin/stats", timeout=10).json()
    assert (stats["http_requests"], stats["operations"]) == (1, 4)
    contact = requests.get(changeset[1].headers["OData-EntityId"], headers=AUTH, timeout=30).json()
    assert contact["_parentcustomerid_value"] == account_id


def test_a_failed_change_set_leaves_nothing_in_the_store_and_stops_the_batch(dv):
    name = f"Rollback Co {uuid.uuid4()}"
    response = post_batch(
        dv,
        [request_part("POST", "accounts", {"name": name}, 1),
         request_part("POST", "contacts", {"fullname": name, BIND: "$1"}, 2),
         request_part("PATCH", "$1", {"nosuchcolumn": 1}, 3)],
        [request_part("POST", "accounts", {"name": name + " later"}, 1)],
    )
    assert response.status_code == 400
    [failure] = parts_of(response)
    assert (failure.status, failure.content_id) == (400, "3")
    assert failure.json()["error"]["code"] == "0x80048d19"
    assert names(dv, "accounts", "name", name) == [] and names(dv, "contacts", "fullname", name) == []
    assert names(dv, "accounts", "name", name + " later") == []  # never ran


def test_continue_on_error_answers_every_part(dv):
    name = f"Continue Co {uuid.uuid4()}"
    response = post_batch(
        dv,
        [request_part("POST", "accounts", {"name": name + " A"}, 1),
         request_part("PATCH", "$1", {"nosuchcolumn": 1}, 2)],
        request_part("GET", "accounts?$filter=nosuch%20eq%201"),
        [request_part("POST", "accounts", {"name": name + " B"}, 1)],
        prefer="odata.continue-on-error",
    )
    assert response.status_code == 200
    assert response.headers["Preference-Applied"] == "odata.continue-on-error"
    failed_changeset, failed_get, good_changeset = parts_of(response)
    assert (failed_changeset.status, failed_changeset.content_id) == (400, "2")
    assert failed_get.status == 400 and failed_get.json()["error"]["code"] == "0x80048d19"
    assert [p.status for p in good_changeset] == [204]
    assert names(dv, "accounts", "name", name + " A") == []
    assert len(names(dv, "accounts", "name", name + " B")) == 1


def test_a_bad_filter_in_a_get_part_is_that_parts_400(dv):
    response = post_batch(dv, request_part("GET", "accounts?$filter=name%20eq%20'unterminated"),
                          [request_part("POST", "accounts", {"name": "never"}, 1)])
    assert response.status_code == 400
    [failure] = parts_of(response)
    assert failure.json()["error"]["code"] == "0x80060888"
    assert "unterminated literal" in failure.json()["error"]["message"]


def test_money_and_decimals_stay_exact_through_a_batch(dv):
    name = f"Exact {uuid.uuid4()}"
    response = post_batch(dv, [request_part("POST", "w365_billingcontracts",
                                            {"w365_name": name, "w365_discountpercent": 0}, 1)])
    [[created]] = parts_of(response)
    url = created.headers["OData-EntityId"].split("/api/data/v9.2/")[1]
    body, content_type = body_of([request_part("PATCH", url, None, 1)])
    body = body.replace(b"HTTP/1.1\r\n\r\n", b"HTTP/1.1\r\nContent-Type: application/json\r\n\r\n"
                                             b'{"w365_discountpercent": 12.3456789012}')
    response = requests.post(dv.api_url + "$batch", data=body, timeout=30,
                             headers={**AUTH, "Content-Type": content_type})
    assert response.status_code == 200, response.text
    query = post_batch(dv, request_part(
        "GET", f"w365_billingcontracts?$select=w365_discountpercent"
               f"&$filter=w365_discountpercent%20eq%2012.3456789012%20and%20w365_name%20eq%20'{name}'"))
    [part] = parts_of(query)
    [row] = part.json()["value"]
    assert row["w365_discountpercent"] == Decimal("12.3456789012")


def test_undeclared_content_id_reference(dv):
    response = post_batch(dv, [request_part("POST", "contacts", {"fullname": "x", BIND: "$7"}, 1)])
    assert response.status_code == 400
    [failure] = parts_of(response)
    assert failure.json()["error"]["message"] == (
        "Content-ID Reference: '$7' does not exist in the batch context.")


def test_malformed_and_oversized_batches_get_a_400_error_body(dv):
    over = body_of(*[request_part("GET", "accounts?$top=1")] * 1001)
    for data, content_type in [over, (b"not multipart", "text/plain"),
                               (b"--batch_e2e\r\n", "multipart/mixed; boundary=batch_e2e")]:
        response = requests.post(dv.api_url + "$batch", data=data, timeout=30,
                                 headers={**AUTH, "Content-Type": content_type})
        assert response.status_code == 400
        assert response.json()["error"]["message"]
    assert "maximum number of '1000'" in requests.post(
        dv.api_url + "$batch", data=over[0], headers={**AUTH, "Content-Type": over[1]}, timeout=30,
    ).json()["error"]["message"]
