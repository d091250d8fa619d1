"""Service protection limits over HTTP: each limit's 429, the headers, the cost, `/_admin/limits`."""

from __future__ import annotations

import threading
import uuid

import pytest
import requests

from connectors.local_dataverse.limits import LimitSettings
from .conftest import error_code
from .test_batch_http import post_batch, request_part

DEFAULTS = LimitSettings().as_json()


@pytest.fixture
def dv(quiet_dataverse):
    quiet_dataverse.set_limits(**DEFAULTS)
    yield quiet_dataverse
    quiet_dataverse.set_limits(**DEFAULTS)


def admin(dv, method: str, path: str, body=None, **kw) -> requests.Response:
    return requests.request(method, f"{dv.url}/_admin/{path}", json=body, timeout=10, **kw)


def test_every_response_carries_the_rate_limit_and_dop_headers(api, dv):
    dv.set_limits(enabled=True, requests=10, exec_ms=5000, concurrent=4)
    ok = api.get("accounts?$top=1")
    missing = api.get("nosuchset")
    for resp in (ok, missing):
        assert resp.headers["x-ms-dop-hint"] == "4"
        assert int(resp.headers["x-ms-ratelimit-time-remaining-xrm-requests"]) == 5000
    assert ok.headers["x-ms-ratelimit-burst-remaining-xrm-requests"] == "9"
    assert missing.headers["x-ms-ratelimit-burst-remaining-xrm-requests"] == "8"


def test_the_request_limit_answers_429_with_code_message_and_retry_after(api, dv):
    dv.set_limits(enabled=True, requests=3, window_s=60)
    assert [api.get("accounts?$top=1").status_code for _ in range(3)] == [200] * 3
    refused = api.get("accounts?$top=1")
    assert refused.status_code == 429
    assert error_code(refused) == "0x80072322"
    assert refused.json()["error"]["message"] == (
        "Number of requests exceeded the limit of 3 over time window of 60 seconds.")
    assert 1 <= int(refused.headers["Retry-After"]) <= 60
    assert dv.stats()["throttled"] == 1


def test_the_execution_time_limit_counts_op_cost_and_batch_parts(api, dv):
    dv.set_limits(enabled=True, exec_ms=30, op_cost_ms=10, window_s=60)
    parts = [request_part("GET", "accounts?$top=1") for _ in range(3)]
    assert post_batch(dv, *parts).status_code == 200  # three parts: 30 ms, the whole budget
    assert dv.stats()["exec_ms"] == 30
    refused = api.get("accounts?$top=1")
    assert (refused.status_code, error_code(refused)) == (429, "0x80072321")
    assert "Combined execution time of incoming requests exceeded limit of 30 milliseconds" in (
        refused.json()["error"]["message"])
    assert int(refused.headers["Retry-After"]) >= 1
    assert refused.headers["x-ms-ratelimit-time-remaining-xrm-requests"] == "0"


def test_create_multiple_costs_one_operation_per_record_even_with_limits_off(api, dv):
    dv.set_limits(op_cost_ms=2)
    targets = [{"@odata.type": "Microsoft.Dynamics.CRM.account", "name": f"m{i}"} for i in range(4)]
    assert api.post("accounts/Microsoft.Dynamics.CRM.CreateMultiple", {"Targets": targets}).status_code == 200
    assert dv.stats()["exec_ms"] == 8


def test_the_concurrency_limit_refuses_at_once(api, dv):
    dv.set_limits(enabled=True, concurrent=1, op_cost_ms=500)
    answers: list[requests.Response] = []
    ready = threading.Barrier(3)

    def call() -> None:
        ready.wait()
        answers.append(requests.get(dv.api_url + "accounts?$top=1", timeout=10,
                                    headers={"Authorization": "Bearer local-dev-token"}))

    workers = [threading.Thread(target=call) for _ in range(3)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    refused = [a for a in answers if a.status_code == 429]
    assert sorted(a.status_code for a in answers)[0] == 200 and refused
    assert error_code(refused[0]) == "0x80072326"
    assert refused[0].json()["error"]["message"] == "Number of concurrent requests exceeded the limit of 1."
    assert refused[0].headers["Retry-After"] == "1"


def test_limits_are_per_user(api, dv):
    oid = str(uuid.uuid4())
    api.create("systemusers", {"fullname": "Limited", "azureactivedirectoryobjectid": oid})
    dv.set_limits(enabled=True, requests=1)
    assert api.get("accounts?$top=1").status_code == 200
    assert api.get("accounts?$top=1").status_code == 429
    as_user = {"CallerObjectId": oid}
    assert api.get("accounts?$top=1", headers=as_user).status_code == 200  # the caller has its own window
    assert api.get("accounts?$top=1", headers=as_user).status_code == 429


def test_admin_limits_merges_reports_and_refuses_bad_input(api, dv):
    assert admin(dv, "GET", "limits").json() == DEFAULTS
    changed = admin(dv, "POST", "limits", {"enabled": True, "requests": 2}).json()
    assert changed == {**DEFAULTS, "enabled": True, "requests": 2}
    assert admin(dv, "GET", "limits").json() == changed
    for bad in ({"burst": 1}, {"requests": -1}, {"enabled": 1}, [1]):
        resp = admin(dv, "POST", "limits", bad)
        assert resp.status_code == 400 and resp.json()["error"]["code"] == "bad_limits"
    resp = admin(dv, "POST", "limits", data=b"{not json", headers={"Content-Type": "application/json"})
    assert resp.status_code == 400


def test_admin_is_never_limited_or_counted(api, dv):
    dv.set_limits(enabled=True, requests=1, concurrent=1)
    for _ in range(5):
        assert admin(dv, "GET", "stats").status_code == 200
        assert admin(dv, "GET", "limits").status_code == 200
    assert dv.stats()["http_requests"] == 0
    assert api.get("accounts?$top=1").status_code == 200  # the window is still untouched


def test_a_fresh_window_after_an_update(api, dv):
    dv.set_limits(enabled=True, requests=1)
    api.get("accounts?$top=1")
    assert api.get("accounts?$top=1").status_code == 429
    admin(dv, "POST", "limits", {"window_s": 300})
    assert api.get("accounts?$top=1").status_code == 200
