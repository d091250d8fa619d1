"""`$batch` through the HTTP server: atomic change sets, counting, auth, faults, the role check."""

from __future__ import annotations

import json
import uuid

import pytest

from .conftest import new_id


def multipart(parts: list, boundary: str) -> str:
    """A $batch body; a part is (method, url, body) or a list of them (a change set)."""
    lines = []
    for part in parts:
        lines.append(f"--{boundary}")
        if isinstance(part, list):
            cs = f"changeset_{uuid.uuid4().hex}"
            lines += [f"Content-Type: multipart/mixed; boundary={cs}", ""]
            for n, (method, url, body) in enumerate(part, 1):
                lines += [
                    f"--{cs}",
                    "Content-Type: application/http",
                    "Content-Transfer-Encoding: binary",
                    f"Content-ID: {n}",
                    "",
                    f"{method} {url} HTTP/1.1",
                    "Content-Type: application/json",
                    "",
                    json.dumps(body) if body is not None else "",
                ]
            lines.append(f"--{cs}--")
        else:
            method, url, body = part
            lines += [
                "Content-Type: application/http",
                "Content-Transfer-Encoding: binary",
                "",
                f"{method} {url} HTTP/1.1",
                "Accept: application/json",
                "",
            ]
            if body is not None:
                lines.append(json.dumps(body))
    lines.append(f"--{boundary}--")
    return "\r\n".join(lines) + "\r\n"


def post_batch(api, parts, headers=None, token="local-dev-token"):
    boundary = f"batch_{uuid.uuid4().hex}"
    return api.request(
        "POST",
        "$batch",
        data=multipart(parts, boundary),
        token=token,
        headers={"Content-Type": f"multipart/mixed; boundary={boundary}", **(headers or {})},
    )


def statuses(resp) -> list[int]:
    """Every embedded HTTP status line of a batch response, in order."""
    return [int(line.split()[1]) for line in resp.text.splitlines() if line.startswith("HTTP/1.1 ")]


@pytest.fixture
def fresh(quiet_dataverse):
    return quiet_dataverse


def test_a_batch_is_one_request_and_one_operation_per_part(api, fresh):
    resp = post_batch(
        api,
        [
            ("GET", "accounts?$top=1", None),
            [("POST", "accounts", {"name": "b1"}), ("POST", "accounts", {"name": "b2"})],
            ("GET", f"{api.root}accounts?$top=1", None),
        ],
    )
    assert resp.status_code == 200 and resp.headers["Content-Type"].startswith("multipart/mixed")
    assert statuses(resp) == [200, 204, 204, 200]
    s = fresh.stats()
    assert (s["http_requests"], s["operations"]) == (1, 4)


def test_a_failing_change_set_writes_nothing(api, fresh):
    before = api.count("accounts")
    resp = post_batch(
        api, [[("POST", "accounts", {"name": "kept?"}), ("POST", "accounts", {"nosuchcolumn": 1})]]
    )
    assert resp.status_code == 400 and 400 in statuses(resp)
    assert api.count("accounts") == before


def test_content_id_references_bind_within_a_change_set(api, fresh):
    resp = post_batch(
        api,
        [
            [
                ("POST", "accounts", {"name": "parent via $1"}),
                (
                    "POST",
                    "contacts",
                    {"fullname": "child", "parentcustomerid_account@odata.bind": "$1"},
                ),
            ]
        ],
    )
    assert statuses(resp) == [204, 204], resp.text
    contact = api.rows("contacts", "$filter=fullname eq 'child'")[0]
    parent = api.row("accounts", contact["_parentcustomerid_value"])
    assert parent["name"] == "parent via $1"


def test_continue_on_error_runs_every_part(api, fresh):
    resp = post_batch(
        api,
        [("GET", "nosuchset", None), ("POST", "accounts", {"name": "after the error"})],
        headers={"Prefer": "odata.continue-on-error"},
    )
    assert resp.status_code == 200 and statuses(resp) == [404, 204]
    assert api.rows("accounts", "$filter=name eq 'after the error'")


def test_a_role_0_batch_part_cannot_create_an_invoice(api, fresh):
    user = api.create("systemusers", {"fullname": "batch role 0", "w365_billingrole": 0})
    before = api.count("invoices"), api.count("accounts")
    resp = post_batch(
        api,
        [
            [
                ("POST", "accounts", {"name": "in the same change set"}),
                ("POST", "invoices", {"name": "denied"}),
            ]
        ],
        headers={"MSCRMCallerID": user},
    )
    assert 403 in statuses(resp) and "0x80040220" in resp.text
    assert (api.count("invoices"), api.count("accounts")) == before


def test_batch_needs_a_token_and_faults_hit_the_whole_batch(api, fresh):
    before = api.count("accounts")
    fresh.reset_stats()
    assert post_batch(api, [[("POST", "accounts", {"name": "x"})]], token=None).status_code == 401
    fresh.set_faults(rate_429=1)
    throttled = post_batch(api, [[("POST", "accounts", {"name": "x"})]])
    assert throttled.status_code == 429 and throttled.headers["Retry-After"].isdigit()
    fresh.set_faults(rate_429=0)
    s = fresh.stats()
    assert (s["http_requests"], s["operations"]) == (2, 0)
    assert api.count("accounts") == before


def test_a_malformed_batch_is_a_400(api, fresh):
    resp = api.request(
        "POST", "$batch", data="not multipart", headers={"Content-Type": "text/plain"}
    )
    assert resp.status_code == 400 and resp.json()["error"]["message"]


def test_batch_parts_may_query_with_paging_and_alternate_keys(api, fresh):
    run_key = new_id()
    resp = post_batch(
        api,
        [
            [("PATCH", f"w365_invoiceruns(w365_runkey='{run_key}')", {"w365_name": "via batch"})],
            ("GET", f"w365_invoiceruns(w365_runkey='{run_key}')?$select=w365_name", None),
        ],
    )
    assert statuses(resp) == [204, 200], resp.text
    assert '"w365_name":"via batch"' in resp.text
