"""The one request method: headers, impersonation, typed errors, retries in budget, logging."""

from __future__ import annotations

import logging
from decimal import Decimal

import pytest
import requests

from connectors.dataverse import errors
from connectors.dataverse.auth import FixedTokenProvider
from connectors.dataverse.client import DataverseClient

from .conftest import API, ORG, error_json

ACCOUNTS = API + "accounts"


def test_standard_headers_request_id_and_decimal_json(client, rsps):
    rsps.get(ACCOUNTS, json={"value": [{"revenue": 1.10}]})
    response = client.request("GET", "accounts", params={"$select": "revenue"})
    sent = rsps.calls[0].request
    assert sent.url == ACCOUNTS + "?$select=revenue"
    assert sent.headers["Authorization"] == "Bearer test-token"
    assert sent.headers["OData-MaxVersion"] == "4.0" and sent.headers["OData-Version"] == "4.0"
    assert sent.headers["Accept"] == "application/json"
    assert sent.headers["Content-Type"] == "application/json; charset=utf-8"
    assert len(sent.headers["x-ms-client-request-id"]) == 36
    assert "MSCRMCallerID" not in sent.headers and "CallerObjectId" not in sent.headers
    value = response.json()["value"][0]["revenue"]
    assert isinstance(value, Decimal) and value == Decimal("1.10")


def test_request_body_is_serialised_with_exact_decimals(client, rsps):
    rsps.post(
        ACCOUNTS,
        status=204,
        headers={"OData-EntityId": ACCOUNTS + "(00000000-0000-0000-0000-000000000001)"},
    )
    client.request("POST", "accounts", json={"revenue": Decimal("100.0000")})
    assert rsps.calls[0].request.body == b'{"revenue":100.0000}'


def test_impersonation_and_correlation_headers_on_a_scoped_client(client, rsps):
    rsps.get(ACCOUNTS, json={"value": []})
    rsps.get(ACCOUNTS, json={"value": []})
    scoped = client.with_options(
        caller_id="11111111-1111-1111-1111-111111111111",
        caller_object_id="22222222-2222-2222-2222-222222222222",
        correlation_id="corr-1",
        retry_budget_s=5,
    )
    scoped.request("GET", "accounts")
    client.request("GET", "accounts")
    first, second = (c.request.headers for c in rsps.calls)
    assert first["MSCRMCallerID"] == "11111111-1111-1111-1111-111111111111"
    assert first["CallerObjectId"] == "22222222-2222-2222-2222-222222222222"
    assert first["x-ms-correlation-request-id"] == "corr-1"
    assert "MSCRMCallerID" not in second and "x-ms-correlation-request-id" not in second
    assert scoped.session is client.session and scoped.token_provider is client.token_provider
    assert scoped.retry_budget_s == 5 and client.retry_budget_s == 20
    assert first["x-ms-client-request-id"] != second["x-ms-client-request-id"]
    cleared = scoped.with_options(caller_id=None)
    assert cleared.caller_id is None and cleared.caller_object_id == scoped.caller_object_id


@pytest.mark.parametrize(
    "status, code, cls",
    [
        (400, "0x80060888", errors.BadRequestError),
        (400, "0x80048d19", errors.BadRequestError),
        (401, "", errors.AuthenticationError),
        (403, "0x80040220", errors.PrivilegeError),
        (404, "0x80040217", errors.NotFoundError),
        (412, "0x80060882", errors.ConcurrencyError),
        (412, "0x80060892", errors.DuplicateKeyError),
        (412, "0x80040237", errors.DuplicateKeyError),
        (412, "0x80040000", errors.PreconditionFailedError),
        (500, "0x80040216", errors.ServiceUnavailableError),
        (405, "", errors.DataverseError),
    ],
)
def test_error_json_maps_to_the_typed_exception(client, rsps, status, code, cls):
    for _ in range(2 if status == 401 else 1):  # a 401 is retried once with a fresh token
        rsps.get(
            ACCOUNTS,
            status=status,
            json=error_json(code, "the message"),
            headers={"REQ_ID": "rid-1"},
        )
    with pytest.raises(cls) as info:
        client.request("GET", "accounts")
    error = info.value
    assert type(error) is cls
    assert (error.status, error.code or "", error.message, error.request_id) == (
        status,
        code,
        "the message",
        "rid-1",
    )
    assert isinstance(error, errors.DataverseError)


def test_412_subclasses_are_precondition_failures():
    assert issubclass(errors.ConcurrencyError, errors.PreconditionFailedError)
    assert issubclass(errors.DuplicateKeyError, errors.PreconditionFailedError)


def test_non_json_error_body_keeps_its_text(client, rsps):
    rsps.get(ACCOUNTS, status=400, body="<html>bad gateway-ish</html>", content_type="text/html")
    with pytest.raises(errors.BadRequestError, match="bad gateway-ish"):
        client.request("GET", "accounts")


def test_raise_for_status_false_returns_the_response(client, rsps):
    rsps.get(ACCOUNTS, status=404, json=error_json("0x80040217", "gone"))
    assert client.request("GET", "accounts", raise_for_status=False).status_code == 404


def throttle(rsps, times: int = 1, retry_after: str | None = None) -> None:
    """Queue `times` 429 answers (Dataverse's throttling error), with Retry-After when given."""
    headers = {"Retry-After": retry_after} if retry_after else {}
    for _ in range(times):
        rsps.get(ACCOUNTS, status=429, json=error_json("0x80072322", "throttled"), headers=headers)


def test_429_sleeps_retry_after_then_succeeds(client, rsps, fake_clock):
    throttle(rsps, retry_after="7")
    throttle(rsps, retry_after="3")
    rsps.get(ACCOUNTS, json={"value": []})
    assert client.request("GET", "accounts").status_code == 200
    assert fake_clock.sleeps == [7.0, 3.0]
    ids = {c.request.headers["x-ms-client-request-id"] for c in rsps.calls}
    assert len(ids) == 1  # one client request id per call, kept across its retries


def test_429_beyond_the_budget_raises_throttled_with_retry_after(client, rsps, fake_clock):
    throttle(rsps, times=2, retry_after="15")
    with pytest.raises(errors.ThrottledError) as info:
        client.request("GET", "accounts")
    assert fake_clock.sleeps == [15.0]  # the second wait would pass the 20 s budget: never slept
    assert info.value.retry_after == 15.0 and info.value.code == "0x80072322"


def test_429_without_retry_after_backs_off_exponentially(client, rsps, fake_clock):
    throttle(rsps, times=3)
    rsps.get(ACCOUNTS, json={"value": []})
    client.request("GET", "accounts")
    assert len(fake_clock.sleeps) == 3
    for attempt, slept in enumerate(fake_clock.sleeps):
        ceiling = 0.5 * 2**attempt
        assert ceiling / 2 <= slept <= ceiling


@pytest.mark.parametrize("status", [502, 503, 504])
def test_gateway_and_unavailable_are_retried(client, rsps, fake_clock, status):
    rsps.get(ACCOUNTS, status=status, body="")
    rsps.get(ACCOUNTS, json={"value": []})
    assert client.request("GET", "accounts").status_code == 200
    assert len(fake_clock.sleeps) == 1


def test_503_until_the_budget_runs_out(fake_clock, rsps):
    client = DataverseClient(
        ORG,
        token_provider=FixedTokenProvider("t"),
        retry_budget_s=2.0,
        sleep=fake_clock.sleep,
        clock=fake_clock.clock,
    )
    for _ in range(4):
        rsps.get(ACCOUNTS, status=503, json=error_json("0x80040216", "down"))
    rsps.assert_all_requests_are_fired = False
    with pytest.raises(errors.ServiceUnavailableError) as info:
        client.request("GET", "accounts")
    assert sum(fake_clock.sleeps) <= 2.0
    assert info.value.status == 503 and info.value.retry_after is not None


def test_500_is_not_retried(client, rsps, fake_clock):
    rsps.get(ACCOUNTS, status=500, json=error_json("0x80040216", "boom"))
    with pytest.raises(errors.ServiceUnavailableError):
        client.request("GET", "accounts")
    assert fake_clock.sleeps == []


def test_connection_errors_are_retried_then_typed(client, rsps, fake_clock):
    rsps.post(ACCOUNTS, body=requests.ConnectionError("Connection reset by peer"))
    rsps.post(
        ACCOUNTS,
        status=204,
        headers={"OData-EntityId": ACCOUNTS + "(00000000-0000-0000-0000-0000000000aa)"},
    )
    assert client.create("accounts", {"name": "x"}) == "00000000-0000-0000-0000-0000000000aa"
    assert len(fake_clock.sleeps) == 1


def test_connection_error_after_the_budget_is_a_connection_error(fake_clock, rsps):
    client = DataverseClient(
        ORG,
        token_provider=FixedTokenProvider("t"),
        retry_budget_s=0,
        sleep=fake_clock.sleep,
        clock=fake_clock.clock,
    )
    rsps.get(ACCOUNTS, body=requests.ConnectionError("refused"))
    with pytest.raises(errors.DataverseConnectionError) as info:
        client.request("GET", "accounts")
    assert info.value.status is None


def test_read_timeout_is_not_retried_for_a_write(client, rsps, fake_clock):
    rsps.post(ACCOUNTS, body=requests.ReadTimeout("slow"))
    with pytest.raises(errors.DataverseConnectionError):
        client.create("accounts", {"name": "x"})
    assert fake_clock.sleeps == []


def test_401_is_retried_once_with_a_fresh_token(fake_clock, rsps):
    issued = []

    def provider(*, force_refresh: bool = False) -> str:
        issued.append(force_refresh)
        return f"token-{len(issued)}"

    client = DataverseClient(
        ORG, token_provider=provider, sleep=fake_clock.sleep, clock=fake_clock.clock
    )
    rsps.get(ACCOUNTS, status=401, json=error_json("", "expired"))
    rsps.get(ACCOUNTS, json={"value": []})
    client.request("GET", "accounts")
    assert issued == [False, True]
    assert [c.request.headers["Authorization"] for c in rsps.calls] == [
        "Bearer token-1",
        "Bearer token-2",
    ]


def test_a_plain_token_callable_is_called_again_on_401(fake_clock, rsps):
    tokens = iter(["first", "second"])
    client = DataverseClient(
        ORG, token_provider=lambda: next(tokens), sleep=fake_clock.sleep, clock=fake_clock.clock
    )
    rsps.get(ACCOUNTS, status=401, json=error_json("", "expired"))
    rsps.get(ACCOUNTS, status=401, json=error_json("", "still expired"))
    with pytest.raises(errors.AuthenticationError, match="still expired"):
        client.request("GET", "accounts")
    assert [c.request.headers["Authorization"] for c in rsps.calls] == [
        "Bearer first",
        "Bearer second",
    ]


def test_debug_log_redacts_the_token(client, rsps, caplog):
    rsps.get(ACCOUNTS, json={"value": []})
    with caplog.at_level(logging.DEBUG):
        client.request("GET", "accounts")
    assert "GET " + ACCOUNTS in caplog.text
    assert "test-token" not in caplog.text and "<redacted>" in caplog.text
