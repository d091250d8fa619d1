"""Bad input to the single-contract API: a 4xx with the shared error shape, never a 500, nothing written."""
from __future__ import annotations

import json
import uuid

import pytest

from tests import factories

SHAPE = {"code", "message", "details"}


@pytest.fixture(scope="module")
def contract_id(dataverse_client, world):
    return factories.license_contract(dataverse_client, world, start="2026-01-01")["contract_id"]


def _no_writes(count):
    delta = count.delta()
    assert delta["operations"] <= 7 * delta["http_requests"]  # at most the read $batch, never a write
    return delta


BODIES = [
    ("malformed json", "{not json", 400, "malformed_json"),
    ("empty body", "", 400, "malformed_json"),
    ("array body", "[]", 400, "malformed_json"),
    ("string body", '"x"', 400, "malformed_json"),
    ("missing id", "{}", 422, "validation_error"),
    ("id wrong type", '{"billing_contract_id": 5}', 422, "validation_error"),
    ("id malformed", '{"billing_contract_id": "1234"}', 422, "validation_error"),
    ("id null", '{"billing_contract_id": null}', 422, "validation_error"),
    ("unknown field", '{"billing_contract_id": "%(id)s", "colour": "red"}', 422, "validation_error"),
    ("cycle wrong type", '{"billing_contract_id": "%(id)s", "cycle": 20260101}', 422, "validation_error"),
    ("cycle too long", '{"billing_contract_id": "%(id)s", "cycle": "%(long)s"}', 422, "validation_error"),
    ("bad as_of", '{"billing_contract_id": "%(id)s", "as_of": "2026-02-30"}', 422, "validation_error"),
    ("as_of wrong type", '{"billing_contract_id": "%(id)s", "as_of": 3}', 422, "validation_error"),
    ("unknown cycle", '{"billing_contract_id": "%(id)s", "cycle": "2026-01-02"}', 400, "unknown_cycle"),
    ("not a cycle key", '{"billing_contract_id": "%(id)s", "cycle": "next"}', 400, "unknown_cycle"),
    ("cycle before start", '{"billing_contract_id": "%(id)s", "cycle": "2025-10-01"}', 400, "unknown_cycle"),
    ("unknown contract", '{"billing_contract_id": "%(missing)s"}', 404, "not_found"),
    ("deep nesting", '{"billing_contract_id": ' + "[" * 5000 + "]" * 5000 + "}", 400, None),
]
CREATE_ONLY = [
    ("bad on_existing", '{"billing_contract_id": "%(id)s", "on_existing": "replace"}', 422, "validation_error"),
    ("empty preview_hash", '{"billing_contract_id": "%(id)s", "preview_hash": ""}', 422, "validation_error"),
]


@pytest.mark.parametrize("path", ["/api/v1/invoices/preview", "/api/v1/invoices"])
@pytest.mark.parametrize("name, body, status, code", BODIES + CREATE_ONLY, ids=[b[0] for b in BODIES + CREATE_ONLY])
def test_bad_bodies(api, contract_id, counter, path, name, body, status, code):
    if (name, body, status, code) in CREATE_ONLY and path.endswith("preview"):
        status, code = 422, "validation_error"  # unknown fields for the preview schema
    text = body % {"id": contract_id, "missing": uuid.uuid4(), "long": "x" * 100} if "%(" in body else body
    count = counter()
    response = api.post(path, data=text, content_type="application/json")
    assert response.status_code == status, response.get_json()
    error = response.get_json()["error"]
    assert set(error) == SHAPE and (code is None or error["code"] == code)
    _no_writes(count)


def test_huge_body_is_413(api, counter):
    count = counter()
    response = api.post("/api/v1/invoices", data=json.dumps({"billing_contract_id": "x" * 200_000}),
                        content_type="application/json")
    assert response.status_code == 413 and set(response.get_json()["error"]) == SHAPE
    assert count.delta() == {"http_requests": 0, "operations": 0}


@pytest.mark.parametrize("url, status", [
    ("/api/v1/billing-contracts/not-a-guid/cycles", 404),
    (f"/api/v1/billing-contracts/{uuid.uuid4()}/cycles", 404),
    ("/api/v1/billing-contracts/{id}/cycles?as_of=tomorrow", 422),
    ("/api/v1/billing-contracts/{id}/cycles?as_of=2026-13-01", 422),
    ("/api/v1/billing-contracts/{id}/cycles?colour=red", 422),
    ("/api/v1/billing-contracts/{id}/cyclez", 404),
    ("/api/v1/nothing-here", 404),
])
def test_bad_urls(api, contract_id, counter, url, status):
    count = counter()
    response = api.get(url.replace("{id}", contract_id))
    assert response.status_code == status
    assert set(response.get_json()["error"]) == SHAPE
    _no_writes(count)


def test_wrong_methods_and_bad_idempotency_key(api, contract_id):
    for method, url in (("get", "/api/v1/invoices"), ("put", "/api/v1/invoices/preview"),
                        ("delete", f"/api/v1/billing-contracts/{contract_id}/cycles"),
                        ("get", "/api/v1/webhooks/dataverse")):
        response = getattr(api, method)(url)
        assert response.status_code == 405 and response.get_json()["error"]["code"] == "method_not_allowed"
    response = api.post("/api/v1/invoices", json={"billing_contract_id": contract_id},
                        headers={"Idempotency-Key": "k" * 101})
    assert response.status_code == 400 and response.get_json()["error"]["code"] == "invalid_idempotency_key"
