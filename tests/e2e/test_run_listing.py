"""`GET /invoice-runs` lists the caller's runs; a run is visible only to its user and to Admins."""
from __future__ import annotations

import pytest

from tests import factories
from tests.e2e.test_auth import jwks_url, secured_app, signing_key, token  # noqa: F401  (fixtures)

AS_OF = "2026-02-01"


@pytest.fixture(scope="module")
def people(dataverse_client):
    return {"alice": factories.create_user(dataverse_client, role=2), "bob": factories.create_user(dataverse_client, role=2),
            "admin": factories.create_user(dataverse_client, role=3)}


def bearer(signing_key, user):  # noqa: F811
    return {"Authorization": f"Bearer {token(signing_key, user['azureactivedirectoryobjectid'])}"}


def start(client, headers, contract_id):
    response = client.post("/api/v1/invoice-runs?wait=60", headers=headers, json={
        "rows": [{"billing_contract_id": contract_id, "trigger_post_invoicing_tasks": False}], "as_of": AS_OF})
    assert response.status_code == 200, response.get_json()
    return response.get_json()["run_id"]


def test_runs_are_listed_for_their_user_and_hidden_from_others(secured_app, signing_key, people,  # noqa: F811
                                                               dataverse_client, world):
    client = secured_app.test_client()
    alice, bob, admin = (bearer(signing_key, people[p]) for p in ("alice", "bob", "admin"))
    key = {"X-API-Key": "key-one"}
    alices = start(client, alice, factories.license_contract(dataverse_client, world)["contract_id"])
    empty = factories.create_contract(dataverse_client, account_id=world.account_id, currency_id=world.currency_id)
    bobs = start(client, bob, empty)
    machine = start(client, key, factories.license_contract(dataverse_client, world)["contract_id"])

    listed = client.get("/api/v1/invoice-runs", headers=alice).get_json()["runs"]
    assert [r["run_id"] for r in listed] == [alices]
    assert listed[0]["status"] == "completed" and listed[0]["counts"] == {"created": 1, "skipped": 0, "failed": 0}
    assert listed[0]["progress"] == {"done": 1, "total": 1} and listed[0]["created_on"]
    assert [r["run_id"] for r in client.get("/api/v1/invoice-runs", headers=key).get_json()["runs"]] == [machine]
    everyone = client.get("/api/v1/invoice-runs?top=100", headers=admin).get_json()["runs"]
    assert {machine, bobs, alices} <= {r["run_id"] for r in everyone}
    created = [r["created_on"] for r in everyone]
    assert created == sorted(created, reverse=True)  # newest first

    for path in (f"/api/v1/invoice-runs/{bobs}", f"/api/v1/invoice-runs/{bobs}/results.csv"):
        assert client.get(path, headers=alice).status_code == 404
        assert client.get(path, headers=bob).status_code == 200
        assert client.get(path, headers=admin).status_code == 200
    assert client.post(f"/api/v1/invoice-runs/{bobs}/retry", headers=alice, json={}).status_code == 404
    assert client.get(f"/api/v1/invoice-runs/{alices}", headers=key).status_code == 404


def test_status_filter_is_exact_and_top_is_bounded(secured_app, signing_key, people, dataverse_client,  # noqa: F811
                                                  world):
    client = secured_app.test_client()
    admin = bearer(signing_key, people["admin"])
    statuses = {r["status"] for r in client.get("/api/v1/invoice-runs?status=completed&top=100",
                                                  headers=admin).get_json()["runs"]}
    assert statuses <= {"completed"}
    assert len(client.get("/api/v1/invoice-runs?top=1", headers=admin).get_json()["runs"]) <= 1
    for bad in ("top=0", "top=101", "top=x", "status=done", "other=1"):
        response = client.get(f"/api/v1/invoice-runs?{bad}", headers=admin)
        assert response.status_code == 422, bad
        assert set(response.get_json()["error"]) == {"code", "message", "details"}
