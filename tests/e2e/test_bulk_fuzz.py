"""Schemathesis fuzzing of the bulk API: whatever it sends, never a 5xx, always the error shape."""
from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode

OPERATIONS = [("GET", "/api/v1/bulk/rows"), ("POST", "/api/v1/bulk/rows"), ("POST", "/api/v1/invoice-runs"),
              ("GET", "/api/v1/invoice-runs/{run_id}"), ("GET", "/api/v1/invoice-runs/{run_id}/results.csv"),
              ("POST", "/api/v1/invoice-runs/{run_id}/retry")]


# a bare string path parameter has no negative cases
CASES = [(m, p, mode) for m, p in OPERATIONS for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)
         if not (m == "GET" and "{run_id}" in p and mode == GenerationMode.NEGATIVE)]


@pytest.mark.parametrize("method, path, mode", CASES)
def test_no_server_errors(fuzz_schema, method, path, mode):
    operation = fuzz_schema[path][method]

    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(max_examples=12, deadline=None, suppress_health_check=list(HealthCheck), database=None)
    def check(case):
        response = case.call()
        assert response.status_code < 500, (case.path_parameters, case.query, case.body, response.text[:300])
        if response.status_code >= 400:
            assert set(response.json()["error"]) == {"code", "message", "details"}

    check()
