"""DESIGN §12 conformance points the audit found wrong (a test per fix): raw HTTP and connector."""

from __future__ import annotations

import signal
import socket
import subprocess
import uuid
from pathlib import Path

import pytest
import requests

from connectors.dataverse import DataverseClient, errors, odata
from connectors.dataverse.auth import token_provider
from tests.local_dataverse.conftest import error_code, new_id
from tests.local_dataverse.test_batch_http import parts_of, post_batch, request_part
from tests.local_dataverse.test_store_and_cli import W365


@pytest.fixture
def dv(quiet_dataverse):
    return quiet_dataverse


@pytest.fixture(scope="module")
def client(local_dataverse) -> DataverseClient:
    provider = token_provider(resource_url=local_dataverse.url, fixed_token="local-dev-token")
    return DataverseClient(local_dataverse.url, token_provider=provider, retry_budget_s=0)


def counters(dv) -> tuple[int, int]:
    s = dv.stats()
    return s["http_requests"], s["operations"]


# ----- /_admin/stats: "a $batch is 1 HTTP request and as many operations as parts" -----------

def test_a_batch_stopped_by_a_failed_change_set_still_counts_every_part(api, dv):
    name = f"never {uuid.uuid4()}"
    response = post_batch(
        dv,
        [request_part("POST", "accounts", {"name": name}, 1),
         request_part("POST", "accounts", {"nosuch": 1}, 2),
         request_part("POST", "accounts", {"name": name}, 3)],
        request_part("GET", "accounts?$select=name"),
    )
    assert response.status_code == 400 and response.headers["Content-Type"].startswith("multipart/")
    [failed] = parts_of(response)  # one error part for the change set, then processing stopped
    assert failed.status == 400 and error_code_of(failed) == "0x80048d19"
    assert counters(dv) == (1, 4)  # 3 change-set requests + 1 GET, run or not
    assert api.rows("accounts", f"$filter=name eq '{name}'") == []
    dv.reset_stats()
    post_batch(dv, request_part("GET", "nosuch"), request_part("GET", "accounts?$top=1"))
    assert counters(dv) == (1, 2)


def test_an_unparseable_batch_is_one_request_and_one_operation(dv):
    response = requests.post(dv.api_url + "$batch", data=b"not multipart", timeout=30,
                             headers={"Authorization": "Bearer local-dev-token",
                                      "Content-Type": "multipart/mixed; boundary=b"})
    assert response.status_code == 400 and error_code(response) == "0x80060891"
    assert counters(dv) == (1, 1)


def error_code_of(part) -> str:
    return part.json()["error"]["code"]


# ----- alternate keys: a String key column takes only a quoted literal ------------------------

def test_a_string_alternate_key_needs_a_quoted_literal(api):
    run_key = new_id()  # a run key is often a GUID (webhook RunId): still an Edm.String
    assert api.post("w365_invoiceruns", {"w365_runkey": run_key}).status_code == 204
    quoted = api.get(f"w365_invoiceruns(w365_runkey='{run_key}')?$select=w365_runkey")
    assert quoted.status_code == 200 and quoted.json()["w365_runkey"] == run_key
    for bare in (run_key, "abc", "2026-01-01", "5"):
        refused = api.get(f"w365_invoiceruns(w365_runkey={bare})")
        assert (refused.status_code, error_code(refused)) == (400, "0x80060888"), bare
        upsert = api.patch(f"w365_invoiceruns(w365_runkey={bare})", {"w365_name": "x"})
        assert upsert.status_code == 400, bare
    assert len(api.rows("w365_invoiceruns", "$select=w365_runkey&$filter=w365_name eq 'x'")) == 0


def test_connector_reads_and_upserts_guid_shaped_string_keys(client):
    run_key = new_id()
    run_id = client.upsert("w365_invoiceruns", {"w365_runkey": run_key}, {"w365_name": "k"},
                           only_create=True)
    assert client.get_by_key("w365_invoiceruns", {"w365_runkey": run_key},
                             select="w365_invoicerunid")["w365_invoicerunid"] == run_id
    item = {"_w365_invoicerun_value": run_id, "w365_rowindex": 0}
    client.upsert("w365_invoicerunitems", item, {"w365_result": 1}, only_create=True)
    with pytest.raises(errors.PreconditionFailedError):
        client.upsert("w365_invoiceruns", {"w365_runkey": uuid.UUID(run_key)}, {}, only_create=True)


# ----- connector literals: injection-shaped, unicode and GUID/date-shaped strings -----------

NASTY = ["O'Brien) or (1 eq 1", 'Say "hi"', "both ' and \"", "Ünïcødé 名前 😀", "a&b=c?d#e%20f+g",
         "x', 'y", "tab\tname", "back\\slash", "2026-01-01",
         "5a1b8a2e-0000-4000-8000-000000000001"]


def test_filters_built_by_the_connector_match_exactly_the_value_given(client):
    marker = uuid.uuid4().hex
    for value in NASTY:
        client.create("accounts", {"name": value, "emailaddress1": marker})
    client.create("accounts", {"name": "decoy", "emailaddress1": marker})
    mine = odata.eq("emailaddress1", marker)
    for value in NASTY:
        text = odata.eq("name", odata.Text(value))
        exact = client.query("accounts", select="name", filter=odata.and_(mine, text))
        assert [r["name"] for r in exact] == [value]
        listed = client.query_in("accounts", "name", [value, "decoy"], select="name", filter=mine)
        assert sorted(r["name"] for r in listed) == sorted([value, "decoy"])


# ----- bad input is a Dataverse 4xx, never a 500 -------------------------------------------

def raw_get(dv, path: str, authorization: bytes) -> tuple[int, bytes]:
    """A GET whose Authorization header carries raw (non-ASCII) bytes, as `requests` cannot."""
    with socket.create_connection(("127.0.0.1", dv.port), timeout=30) as sock:
        sock.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n".encode()
                     + b"Authorization: " + authorization + b"\r\n\r\n")
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    return int(data.split(b" ", 2)[1]), data


def test_a_non_ascii_bearer_token_is_a_401(dv):
    status, data = raw_get(dv, "/api/data/v9.2/accounts", "Bearer tökén".encode("latin-1"))
    assert status == 401 and b'"error"' in data
    assert dv.stats()["server_errors"] == 0 and counters(dv) == (1, 0)


@pytest.mark.parametrize("body", ['{"name":' * 5000 + '"x"' + "}" * 5000, "[" * 5000 + "]" * 5000,
                                  '{"name": "\\ud800"}'])
def test_deep_json_and_lone_surrogates_are_400(api, dv, body):
    for path in ("accounts", "accounts/Microsoft.Dynamics.CRM.CreateMultiple"):
        response = api.request("POST", path, data=body.encode(),
                               headers={"Content-Type": "application/json"})
        assert (response.status_code, error_code(response)) == (400, "0x80048d19")
    assert dv.stats()["server_errors"] == 0


def test_a_top_beyond_int64_is_400(api, dv):
    response = api.get("accounts?$top=99999999999999999999")
    assert (response.status_code, error_code(response)) == (400, "0x80060888")
    assert dv.stats()["server_errors"] == 0


# ----- `w365 dataverse-local` fault flags take effect -------------------------------------

def test_the_cli_fault_flags_reach_the_server(tmp_path):
    proc = subprocess.Popen(
        [*W365, "dataverse-local", "--port", "0", "--db", str(tmp_path / "f.sqlite3"),
         "--fault-429-rate", "1", "--fault-503-rate", "0.5", "--fault-reset-rate", "0.25",
         "--latency-ms", "1", "--retry-after", "3"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        cwd=Path(__file__).resolve().parents[2],
    )
    try:
        first = proc.stdout.readline()
        assert first.startswith("Local Dataverse: http://127.0.0.1:"), first
        url = first.split(": ", 1)[1].strip()
        faults = requests.get(f"{url}/_admin/faults", timeout=10).json()
        assert faults == {"latency_ms": 1, "rate_429": 1.0, "rate_503": 0.5,
                          "rate_reset": 0.25, "retry_after_s": 3}
        requests.post(f"{url}/_admin/faults", json={"rate_reset": 0}, timeout=10)
        throttled = requests.get(f"{url}/api/data/v9.2/accounts", timeout=10,
                                 headers={"Authorization": "Bearer local-dev-token"})
        assert throttled.status_code == 429 and throttled.headers["Retry-After"] == "3"
        assert throttled.json()["error"]["code"] == "0x80072322"
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
