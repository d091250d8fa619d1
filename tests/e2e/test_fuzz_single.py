"""Schemathesis fuzzing of the single-contract API: whatever it sends, never a 5xx, always the error shape."""
from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode

from tests.e2e.conftest import WEBHOOK_KEYS

OPERATIONS = [("GET", "/api/v1/billing-contracts/{contract_id}/cycles"), ("GET", "/api/v1/health"),
              ("POST", "/api/v1/invoices"), ("POST", "/api/v1/invoices/preview"),
              ("POST", "/api/v1/webhooks/dataverse")]


def test_the_document_covers_the_single_flow(fuzz_schema):
    found = {(r.ok().method.upper(), r.ok().path) for r in fuzz_schema.get_all_operations()}
    assert set(OPERATIONS) <= found


CASES = [(m, p, mode) for m, p in OPERATIONS for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)
         if not (p.endswith("/health") and mode == GenerationMode.NEGATIVE)]  # nothing to break in a bare GET


@pytest.mark.parametrize("method, path, mode", CASES)
def test_no_server_errors(fuzz_schema, counter, method, path, mode):
    operation = fuzz_schema[path][method]
    count = counter()

    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(max_examples=20, deadline=None, suppress_health_check=list(HealthCheck), database=None)
    def check(case):
        if path.endswith("/dataverse"):  # authenticated, so the payload itself is what gets fuzzed
            case.headers = {**(case.headers or {}), "x-w365-webhook-key": WEBHOOK_KEYS[0]}
        response = case.call()
        assert response.status_code < 500, (case.path_parameters, case.body, response.text[:300])
        if response.status_code >= 400:
            assert set(response.json()["error"]) == {"code", "message", "details"}

    check()
    delta = count.delta()
    assert delta["operations"] <= 7 * delta["http_requests"]  # reads at most: random ids create nothing
