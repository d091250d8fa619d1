"""Bearer auth, the msal-compatible authority, and impersonation with the billing-role check."""

from __future__ import annotations

import uuid

import pytest
import requests

from connectors.local_dataverse.store import Store
from connectors.local_dataverse.tokens import TokenIssuer

from .conftest import error_code, new_id, parse


def test_the_web_api_needs_a_bearer_token(api, local_dataverse):
    before = local_dataverse.stats()["http_requests"]
    for token in (None, "wrong-token", "ldv.e30.forged"):
        resp = api.get("accounts", token=token)
        assert resp.status_code == 401
        assert resp.headers["WWW-Authenticate"].startswith("Bearer")
        assert "error" in resp.json()
    assert local_dataverse.stats()["http_requests"] == before + 3  # 401s are counted
    basic = api.get("accounts", token=None, headers={"Authorization": "Basic bG9jYWw6c2VjcmV0"})
    assert basic.status_code == 401


def test_unauthorised_writes_change_nothing(api):
    before = api.count("accounts")
    assert api.post("accounts", {"name": "sneaky"}, token=None).status_code == 401
    assert api.count("accounts") == before


@pytest.mark.parametrize(
    "path",
    [
        "/local-tenant/v2.0/.well-known/openid-configuration",
        "/local-tenant/.well-known/openid-configuration",
    ],
)
def test_oidc_discovery_honours_x_forwarded_proto(local_dataverse, path):
    plain = requests.get(local_dataverse.url + path, timeout=10).json()
    assert plain["token_endpoint"] == f"{local_dataverse.url}/local-tenant/oauth2/v2.0/token"
    assert plain["issuer"].startswith(local_dataverse.url) and plain["authorization_endpoint"]
    https = requests.get(
        local_dataverse.url + path, headers={"X-Forwarded-Proto": "https"}, timeout=10
    ).json()
    assert (
        https["token_endpoint"]
        == local_dataverse.url.replace("http:", "https:") + "/local-tenant/oauth2/v2.0/token"
    )


def token_request(dv, **form):
    data = {
        "grant_type": "client_credentials",
        "client_id": "local-client",
        "client_secret": "local-secret",
        "scope": f"{dv.url}/.default",
        **form,
    }
    return requests.post(f"{dv.authority}/oauth2/v2.0/token", data=data, timeout=10)


def test_client_credentials_token_works_on_the_web_api(api, local_dataverse):
    resp = token_request(local_dataverse)
    assert resp.status_code == 200
    body = resp.json()
    assert (
        body["token_type"] == "Bearer"
        and body["expires_in"] == 3599
        and body["ext_expires_in"] == 3599
    )
    assert api.get("accounts", token=body["access_token"]).status_code == 200


@pytest.mark.parametrize(
    "form, status, error",
    [
        ({"client_secret": "nope"}, 401, "invalid_client"),
        ({"client_id": "someone-else"}, 401, "invalid_client"),
        ({"grant_type": "password"}, 400, "unsupported_grant_type"),
        ({"scope": "openid"}, 400, "invalid_scope"),
    ],
)
def test_bad_token_requests(local_dataverse, form, status, error):
    resp = token_request(local_dataverse, **form)
    assert resp.status_code == status and resp.json()["error"] == error
    assert "access_token" not in resp.json()


def test_issued_tokens_expire_and_are_signed():
    store, other = Store(":memory:"), Store(":memory:")
    issuer = TokenIssuer(store, lifetime_s=-1)
    assert not issuer.valid(issuer.issue("local-client", "http://x"))
    live = TokenIssuer(store, lifetime_s=60)
    token = live.issue("local-client", "http://x")
    assert live.valid(token) and not TokenIssuer(other, 60).valid(token)
    assert live.valid("local-dev-token")
    assert not live.valid(token, lambda aud: aud == "http://y")  # another audience
    store.close()
    other.close()


# ---------------------------------------------------------------------------------- impersonation
@pytest.fixture(scope="module")
def users(api):
    made = {}
    for role in (0, 2):
        aad = str(uuid.uuid4())
        ident = api.create(
            "systemusers",
            {
                "fullname": f"Role {role}",
                "azureactivedirectoryobjectid": aad,
                "w365_billingrole": role,
            },
        )
        made[role] = {"id": ident, "aad": aad}
    return made


def test_a_role_0_caller_cannot_create_invoices(api, users):
    before = api.count("invoices")
    for header, value in (("MSCRMCallerID", users[0]["id"]), ("CallerObjectId", users[0]["aad"])):
        resp = api.post("invoices", {"name": "denied"}, headers={header: value})
        assert resp.status_code == 403 and error_code(resp) == "0x80040220"
        assert "missing prvCreateInvoice privilege" in resp.json()["error"]["message"]
        assert users[0]["id"] in resp.json()["error"]["message"]
    kind = "Microsoft.Dynamics.CRM.invoice"
    bulk = api.post(
        "invoices/Microsoft.Dynamics.CRM.CreateMultiple",
        {"Targets": [{"@odata.type": kind, "name": "x"}]},
        headers={"MSCRMCallerID": users[0]["id"]},
    )
    assert bulk.status_code == 403 and error_code(bulk) == "0x80040220"
    upsert = api.patch(
        f"invoices({new_id()})", {"name": "x"}, headers={"MSCRMCallerID": users[0]["id"]}
    )
    assert upsert.status_code == 403
    assert api.count("invoices") == before


def test_a_role_0_caller_cannot_deep_insert_an_invoice(api, users):
    before = api.count("invoicedetails"), api.count("invoices")
    deep = api.post(
        "invoices",
        {"name": "deep", "invoice_details": [{"productdescription": "line"}]},
        headers={"MSCRMCallerID": users[0]["id"]},
    )
    assert deep.status_code == 403 and error_code(deep) == "0x80040220"
    # an invoice deep-inserted as the parent of a line is still an invoice create
    nested = api.post(
        "invoicedetails",
        {"productdescription": "line", "invoiceid": {"name": "nested invoice"}},
        headers={"MSCRMCallerID": users[0]["id"]},
    )
    assert nested.status_code == 403
    assert (api.count("invoicedetails"), api.count("invoices")) == before


def test_a_role_0_caller_may_do_everything_else_and_a_billing_user_may_invoice(api, users):
    acc = api.create("accounts", {"name": "by role 0"}, headers={"MSCRMCallerID": users[0]["id"]})
    assert api.row("accounts", acc)["name"] == "by role 0"
    ident = api.create("invoices", {"name": "allowed"}, headers={"CallerObjectId": users[2]["aad"]})
    assert api.row("invoices", ident)["name"] == "allowed"
    who = parse(api.get("WhoAmI", headers={"MSCRMCallerID": users[2]["id"]}))
    assert who["UserId"] == users[2]["id"]


def test_an_unknown_caller_is_refused(api):
    before = api.count("accounts")
    for header in ("MSCRMCallerID", "CallerObjectId"):
        resp = api.post("accounts", {"name": "ghost caller"}, headers={header: new_id()})
        assert resp.status_code == 403 and resp.json()["error"]["message"]
    assert api.get("accounts", headers={"MSCRMCallerID": "not-a-guid"}).status_code == 403
    assert api.count("accounts") == before
