"""Whatever a client sends, the local Dataverse answers a Dataverse error or success, never a 500."""

from __future__ import annotations

import json
from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from connectors.local_dataverse import create_app

AUTH = {"Authorization": "Bearer local-dev-token"}
PIECES = [
    "w365_name",
    "_w365_customer_value",
    "w365_Customer",
    "invoice_details",
    "eq",
    "ne",
    "and",
    "or",
    "not",
    "(",
    ")",
    "'x'",
    "''",
    "1",
    "2.5",
    "null",
    "true",
    "2026-01-01",
    ",",
    ";",
    "$select=",
    "$filter=",
    "$top=",
    "Microsoft.Dynamics.CRM.In",
    "[",
    "]",
    '"a"',
    " ",
    "/",
    "=",
    "desc",
    "@p1",
]
tokens = st.lists(st.sampled_from(PIECES), max_size=12).map("".join)
json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.text(max_size=8)
    | st.decimals(allow_nan=False, allow_infinity=False),
    lambda inner: st.lists(inner, max_size=3)
    | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=8,
)
columns = st.sampled_from(
    [
        "w365_name",
        "w365_type",
        "w365_startdate",
        "w365_taxpercent",
        "w365_autosend",
        "w365_Customer@odata.bind",
        "statecode",
        "nosuch",
        "w365_billingcontractid",
        "invoice_details",
        "@odata.type",
    ]
)


@pytest.fixture(scope="module")
def client():
    app = create_app()
    yield app.test_client()
    app.extensions["local_dataverse"].store.close()


def assert_dataverse_answer(resp) -> None:
    assert resp.status_code < 500, resp.get_data(as_text=True)
    if resp.status_code >= 400:
        error = json.loads(resp.get_data())["error"]
        assert isinstance(error["code"], str) and error["message"]


SETTINGS = settings(
    max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


@SETTINGS
@given(
    option=st.sampled_from(
        ["$select", "$filter", "$orderby", "$top", "$expand", "$skiptoken", "$count"]
    ),
    value=tokens,
)
def test_any_query_option(client, option, value):
    assert_dataverse_answer(
        client.get(f"/api/data/v9.2/w365_billingcontracts?{option}={quote(value)}", headers=AUTH)
    )


@SETTINGS
@given(
    key=tokens,
    rest=st.sampled_from(["", "/invoice_details", "/x", "/Microsoft.Dynamics.CRM.CreateMultiple"]),
    method=st.sampled_from(["GET", "PATCH", "DELETE", "POST"]),
)
def test_any_key_segment(client, key, rest, method):
    resp = client.open(
        f"/api/data/v9.2/invoices({quote(key)}){rest}",
        method=method,
        headers=AUTH,
        data=b"{}",
        content_type="application/json",
    )
    assert_dataverse_answer(resp)


records = st.dictionaries(columns, json_values, max_size=5)
bodies = (
    records
    | json_values
    | st.fixed_dictionaries({"Targets": st.lists(records, max_size=3) | json_values})
)


@SETTINGS
@given(
    body=bodies,
    path=st.sampled_from(
        [
            "w365_billingcontracts",
            "invoices",
            "w365_billingcontracts/Microsoft.Dynamics.CRM.CreateMultiple",
            "invoices/Microsoft.Dynamics.CRM.UpdateMultiple",
        ]
    ),
)
def test_any_json_body(client, body, path):
    text = json.dumps(body, default=str)
    assert_dataverse_answer(
        client.post(
            f"/api/data/v9.2/{path}", headers=AUTH, data=text, content_type="application/json"
        )
    )


@SETTINGS
@given(raw=st.binary(max_size=40))
def test_any_bytes_as_body(client, raw):
    assert_dataverse_answer(
        client.post(
            "/api/data/v9.2/accounts", headers=AUTH, data=raw, content_type="application/json"
        )
    )


def test_oversized_bodies_and_headers_are_refused_in_dataverse_shape():
    from connectors.local_dataverse.app import MAX_BODY_BYTES, create_app

    client = create_app().test_client()
    auth = {"Authorization": "Bearer local-dev-token"}
    big = client.post("/api/data/v9.2/accounts", data=b"x" * (MAX_BODY_BYTES + 1),
                      headers={**auth, "Content-Type": "application/json"})
    assert big.status_code == 413 and big.get_json()["error"]["code"] == "0x80040203"
    headers = client.get("/api/data/v9.2/accounts", headers={**auth, "X-Big": "y" * 17000})
    assert headers.status_code == 431 and headers.get_json()["error"]["message"]
    assert client.get("/api/data/v9.2/accounts", headers=auth).status_code == 200
