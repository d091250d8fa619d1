"""/_admin/stats counting and /_admin/faults injection, over raw HTTP."""

from __future__ import annotations

import pytest
import requests

from .conftest import error_code


@pytest.fixture
def dv(quiet_dataverse):
    return quiet_dataverse


def admin(dv, method: str, path: str, body=None) -> requests.Response:
    return requests.request(method, f"{dv.url}/_admin/{path}", json=body, timeout=10)


def stats(dv) -> dict:
    return admin(dv, "GET", "stats").json()


def test_plain_requests_count_one_request_and_one_operation(api, dv):
    api.get("accounts?$top=1")
    api.post("accounts", {"name": "counted"})
    api.get("nosuchset")
    s = stats(dv)
    assert (s["http_requests"], s["operations"]) == (3, 3)


def test_admin_needs_no_token_and_is_never_counted(api, dv):
    for _ in range(3):
        assert stats(dv)["http_requests"] == 0
    assert admin(dv, "POST", "faults", {"latency_ms": 0}).status_code == 200
    assert stats(dv)["http_requests"] == 0


def test_create_multiple_is_one_operation(api, dv):
    kind = "Microsoft.Dynamics.CRM.account"
    api.post(
        "accounts/Microsoft.Dynamics.CRM.CreateMultiple",
        {"Targets": [{"@odata.type": kind, "name": f"m{i}"} for i in range(5)]},
    )
    s = stats(dv)
    assert (s["http_requests"], s["operations"]) == (1, 1)


def test_reset_zeroes_the_counters(api, dv):
    api.get("accounts?$top=1")
    assert admin(dv, "POST", "stats/reset").status_code == 200
    assert stats(dv)["http_requests"] == 0 and stats(dv)["operations"] == 0


def test_unauthorised_requests_count_as_http_requests_only(api, dv):
    api.get("accounts", token=None)
    s = stats(dv)
    assert (s["http_requests"], s["operations"]) == (1, 0)


def test_faults_merge_the_keys_given(dv):
    assert admin(dv, "POST", "faults", {"rate_503": 0.25}).json()["rate_503"] == 0.25
    merged = admin(dv, "POST", "faults", {"retry_after_s": 3}).json()
    assert merged["rate_503"] == 0.25 and merged["retry_after_s"] == 3
    assert stats(dv)["faults"]["rate_503"] == 0.25


@pytest.mark.parametrize(
    "body", [{"rate_429": 2}, {"rate_429": -0.1}, {"latency_ms": "slow"}, {"nonsense": 1}, [1, 2]]
)
def test_bad_fault_settings_are_refused(dv, body):
    resp = admin(dv, "POST", "faults", body)
    assert resp.status_code == 400 and resp.json()["error"]["message"]
    assert admin(dv, "GET", "faults").json()["rate_429"] == 0


def test_a_429_has_retry_after_and_does_no_work(api, dv):
    before = api.count("accounts")
    dv.reset_stats()
    admin(dv, "POST", "faults", {"rate_429": 1, "retry_after_s": 7})
    resp = api.post("accounts", {"name": "throttled"})
    assert resp.status_code == 429 and error_code(resp) == "0x80072322"
    assert resp.headers["Retry-After"] == "7"
    also_unauthenticated = api.get("accounts", token=None)
    assert also_unauthenticated.status_code == 429
    s = stats(dv)
    assert (s["http_requests"], s["operations"]) == (2, 0)
    admin(dv, "POST", "faults", {"rate_429": 0})
    assert api.count("accounts") == before


def test_a_503_does_no_work(api, dv):
    before = api.count("accounts")
    admin(dv, "POST", "faults", {"rate_503": 1})
    resp = api.post("accounts", {"name": "unavailable"})
    assert resp.status_code == 503 and resp.json()["error"]["code"]
    admin(dv, "POST", "faults", {"rate_503": 0})
    assert api.count("accounts") == before


def test_a_reset_drops_the_connection_before_any_work(api, dv):
    before = api.count("accounts")
    dv.reset_stats()
    dv.set_faults(rate_reset=1)
    with pytest.raises(requests.ConnectionError):
        requests.post(
            api.root + "accounts",
            json={"name": "reset"},
            headers={"Authorization": "Bearer local-dev-token"},
            timeout=10,
        )
    assert admin(dv, "GET", "stats").status_code == 200  # /_admin is never faulted
    s = stats(dv)
    assert s["http_requests"] == 1 and s["operations"] == 0 and s["resets"] == 1
    dv.set_faults(rate_reset=0)
    assert api.count("accounts") == before


def test_rates_are_probabilities(api, dv):
    dv.set_faults(rate_503=0.5)
    statuses = {api.get("accounts?$top=1").status_code for _ in range(60)}
    assert statuses == {200, 503}


def test_latency_setting_is_applied_and_reported(api, dv):
    dv.set_faults(latency_ms=1)
    assert api.get("accounts?$top=1").status_code == 200
    assert stats(dv)["faults"]["latency_ms"] == 1
