"""The pages sign in with Entra ID: no page without a session, the session acts as its user, CSRF on writes.

The full browser flow against the local Dataverse's sign-in page is in tests/browser/test_signin_flow.py;
these tests drive the service's side with Flask's test client (a session set as the callback sets it).
"""
from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest

from plugin.app import create_app
from plugin.config import Config
from plugin.pages.signin import CSRF, USER
from tests import factories

AS_OF = "2026-02-01"
ENTRA = dict(api_auth=("keys",), api_keys=("machine-key",), pages_auth="entra", entra_client_id="local-client",
             entra_client_secret="local-secret", entra_authority="https://127.0.0.1:1/local",
             session_secret="test-session-secret")


@pytest.fixture()
def entra_app(dataverse_client):
    return create_app(Config(**ENTRA), dataverse=dataverse_client)


def signed_in(app, user: dict) -> tuple:
    client = app.test_client()
    with client.session_transaction() as session:
        session[USER] = {"oid": user["azureactivedirectoryobjectid"], "name": "Pat Billing", "username": "pat@x"}
        session[CSRF] = "csrf-123"
    return client, {"X-CSRF-Token": "csrf-123"}


def test_a_page_without_a_session_goes_to_sign_in_first(entra_app):
    response = entra_app.test_client().get("/pages/bulk?ids=3f2504e0-4f89-11d3-9a0c-0305e82c3301")
    assert response.status_code == 302
    target = urlsplit(response.headers["Location"])
    assert target.path == "/pages/signin"
    assert parse_qs(target.query)["next"] == ["/pages/bulk?ids=3f2504e0-4f89-11d3-9a0c-0305e82c3301"]


def test_pages_without_entra_settings_say_what_to_configure_and_the_api_still_serves(dataverse_client):
    app = create_app(Config(api_auth=("keys",), api_keys=("k",), pages_auth="entra"), dataverse=dataverse_client)
    page = app.test_client().get("/pages/runs")
    assert page.status_code == 503 and "W365_ENTRA_CLIENT_ID" in page.get_data(as_text=True)
    assert app.test_client().get("/api/v1/invoice-runs", headers={"X-API-Key": "k"}).status_code == 200


def test_the_signed_in_user_acts_as_themselves_with_the_csrf_token(entra_app, dataverse_client, world):
    client, csrf = signed_in(entra_app, world.billing_user)
    page = client.get("/pages/runs")
    assert page.status_code == 200 and 'data-csrf-token="csrf-123"' in page.get_data(as_text=True)
    assert "Pat Billing" in page.get_data(as_text=True) and "key" not in page.get_data(as_text=True).lower()
    contract = factories.license_contract(dataverse_client, world)["contract_id"]
    body = {"rows": [{"billing_contract_id": contract, "trigger_post_invoicing_tasks": False}], "as_of": AS_OF}
    refused = client.post("/api/v1/invoice-runs?wait=30", json=body)
    assert refused.status_code == 403 and refused.get_json()["error"]["code"] == "csrf_token_missing"
    started = client.post("/api/v1/invoice-runs?wait=30", json={**body, "source": "page"}, headers=csrf)
    assert started.status_code == 200, started.get_json()
    run = dataverse_client.get("w365_invoiceruns", started.get_json()["run_id"])
    assert run["_w365_initiatinguser_value"] == world.billing_user["systemuserid"] and run["w365_source"] == 3
    assert [r["run_id"] for r in client.get("/api/v1/invoice-runs").get_json()["runs"]] == [run["w365_invoicerunid"]]


def test_a_role_zero_user_signed_in_gets_a_failed_row_and_no_invoice(entra_app, dataverse_client, world):
    client, csrf = signed_in(entra_app, world.no_role_user)
    contract = factories.license_contract(dataverse_client, world)["contract_id"]
    answer = client.post("/api/v1/invoice-runs?wait=30", headers=csrf, json={
        "rows": [{"billing_contract_id": contract, "trigger_post_invoicing_tasks": False}], "as_of": AS_OF})
    result = answer.get_json()["rows"][0]["result"]
    assert result["status"] == "failed" and "privilege" in result["message"]
    assert factories.invoices_of(dataverse_client, contract) == []


def test_a_long_selection_posted_before_sign_in_survives_it(entra_app, world):
    ids = ",".join(f"00000000-0000-4000-8000-{i:012d}" for i in range(150))
    client = entra_app.test_client()
    first = client.post("/pages/bulk", data={"ids": ids})
    assert first.status_code == 302 and "pending" in parse_qs(urlsplit(first.headers["Location"]).query)["next"][0]
    with client.session_transaction() as session:  # as the sign-in callback leaves it
        session[USER] = {"oid": world.billing_user["azureactivedirectoryobjectid"]}
    page = client.get("/pages/bulk?pending=1")
    assert page.status_code == 200 and "150 billing contracts selected" in page.get_data(as_text=True)


def test_sign_in_never_redirects_off_the_service(entra_app):
    from plugin.pages.signin import _local_path

    with entra_app.test_request_context():
        assert _local_path("/pages/bulk?ids=x") == "/pages/bulk?ids=x"
        for hostile in ("https://evil.example/", "//evil.example/x", "javascript:alert(1)", "evil"):
            assert _local_path(hostile) == "/pages/runs"


def test_an_api_key_still_acts_as_the_application_user(entra_app):
    client = entra_app.test_client()
    assert client.get("/api/v1/invoice-runs", headers={"X-API-Key": "machine-key"}).status_code == 200
    assert client.get("/api/v1/invoice-runs").status_code == 401  # no session, no key


@pytest.mark.parametrize("base_url, attributes", [("http://localhost", ("HttpOnly", "SameSite=Lax")),
                                                   ("https://localhost", ("HttpOnly", "Secure", "SameSite=None"))])
def test_the_session_cookie_is_http_only_secure_over_https_lax_over_http(entra_app, world, base_url, attributes):
    client = entra_app.test_client()
    with client.session_transaction(base_url=base_url) as session:
        session[USER] = {"oid": world.billing_user["azureactivedirectoryobjectid"]}  # no CSRF token yet
    response = client.get("/pages/runs", base_url=base_url)  # the page makes the token: the cookie is written
    cookie = response.headers["Set-Cookie"]
    assert all(attribute in cookie for attribute in attributes), cookie
    assert ("Secure" in cookie) == base_url.startswith("https")
