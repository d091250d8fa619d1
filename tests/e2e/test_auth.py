"""API authentication (DESIGN §10 `W365_API_AUTH`): dev (loopback only), API keys, Entra ID JWTs."""
from __future__ import annotations

import json
import time

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from connectors.dataverse import odata
from plugin.app import create_app
from plugin.auth import UnsafeBindError, assert_bind_allowed
from plugin.config import Config
from tests import factories
from tests.conftest import QuietHandler, make_client, start_http_server
from tests.e2e.conftest import count_rows

ISSUER = "https://login.microsoftonline.com/local-tenant/v2.0"
AUDIENCE = "api://w365-invoicing"
KID = "test-key-1"


def _key():
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="module")
def signing_key():
    return _key()


@pytest.fixture(scope="module")
def jwks_url(signing_key):
    """A JWKS document served on loopback (as Entra's discovery keys endpoint would)."""
    jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(signing_key.public_key()))
    document = json.dumps({"keys": [{**jwk, "kid": KID, "use": "sig", "alg": "RS256"}]}).encode()

    class Handler(QuietHandler):
        def do_GET(self):  # noqa: N802
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(document)))
            self.end_headers()
            self.wfile.write(document)

    server = start_http_server(Handler)
    yield f"http://127.0.0.1:{server.server_port}/discovery/v2.0/keys"
    server.shutdown()
    server.server_close()


def token(key, oid, *, audience=AUDIENCE, issuer=ISSUER, expires_in=600, kid=KID, **claims):
    """An RS256 access token like Entra's."""
    now = int(time.time())
    payload = {"iss": issuer, "aud": audience, "oid": oid, "iat": now, "nbf": now, "exp": now + expires_in,
               "preferred_username": "user@contoso.example", **claims}
    return jwt.encode(payload, key, algorithm="RS256", headers={"kid": kid})


@pytest.fixture(scope="module")
def secured_app(local_dataverse, jwks_url):
    """`keys,entra` auth; the connector records the CallerObjectId header of every request."""
    client = make_client(local_dataverse)
    seen: list[str | None] = []
    client.session.hooks["response"].append(lambda r, *a, **k: seen.append(r.request.headers.get("CallerObjectId")))
    config = Config(api_auth=("keys", "entra"), api_keys=("key-one", "key-two"), entra_audience=AUDIENCE,
                    entra_issuer=ISSUER, entra_jwks_url=jwks_url)
    app = create_app(config, dataverse=client)
    app.extensions["test.seen"] = seen
    return app


@pytest.fixture(scope="module")
def contract(dataverse_client, world):
    return factories.license_contract(dataverse_client, world, start="2026-01-01")


def _cycles(client, contract, **headers):
    return client.get(f"/api/v1/billing-contracts/{contract['contract_id']}/cycles?as_of=2026-02-01",
                      headers=headers)


def test_api_keys_by_bearer_or_header(secured_app, contract):
    client = secured_app.test_client()
    assert _cycles(client, contract, Authorization="Bearer key-one").status_code == 200
    assert _cycles(client, contract, **{"X-API-Key": "key-two"}).status_code == 200
    for headers in ({}, {"Authorization": "Bearer key-three"}, {"X-API-Key": "key-on"},
                    {"Authorization": "Basic key-one"}, {"Authorization": "Bearer "}):
        response = _cycles(client, contract, **headers)
        assert response.status_code == 401 and response.get_json()["error"]["code"] == "unauthorized"
        assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert client.get("/api/v1/health").status_code == 200  # liveness needs no credentials
    assert client.get("/api/v1/openapi.json").status_code == 200


def test_entra_tokens_are_validated_and_act_as_the_user(secured_app, contract, signing_key, world):
    client = secured_app.test_client()
    seen = secured_app.extensions["test.seen"]
    oid = world.billing_user["azureactivedirectoryobjectid"]
    seen.clear()
    response = _cycles(client, contract, Authorization=f"Bearer {token(signing_key, oid)}")
    assert response.status_code == 200
    assert seen and all(s == oid for s in seen)
    other_key = _key()
    for bad in (token(signing_key, oid, expires_in=-60), token(signing_key, oid, audience="api://other"),
                token(signing_key, oid, issuer="https://evil.example/"), token(other_key, oid),
                token(signing_key, oid, kid="unknown-kid"), "a.b.c",
                jwt.encode({"iss": ISSUER, "aud": AUDIENCE, "oid": oid, "exp": int(time.time()) + 60}, "s" * 32,
                           algorithm="HS256", headers={"kid": KID})):
        response = _cycles(client, contract, Authorization=f"Bearer {bad}")
        assert response.status_code == 401, bad
        assert response.get_json()["error"]["code"] == "unauthorized"
    no_oid = jwt.encode({"iss": ISSUER, "aud": AUDIENCE, "exp": int(time.time()) + 60}, signing_key,
                        algorithm="RS256", headers={"kid": KID})
    assert _cycles(client, contract, Authorization=f"Bearer {no_oid}").status_code == 401


def test_role_zero_user_gets_403_no_invoice_and_the_failure_recorded(secured_app, signing_key, dataverse_client, world):
    ids = factories.license_contract(dataverse_client, world, start="2026-01-01")
    client = secured_app.test_client()
    bearer = {"Authorization": f"Bearer {token(signing_key, world.no_role_user['azureactivedirectoryobjectid'])}"}
    before = {s: count_rows(dataverse_client, s) for s in
              ("invoices", "w365_invoiceruns", "w365_invoicerunitems", "w365_billingschedules")}
    preview = client.post("/api/v1/invoices/preview", json={"billing_contract_id": ids["contract_id"]}, headers=bearer)
    assert preview.status_code == 200  # reading is allowed
    response = client.post("/api/v1/invoices", json={"billing_contract_id": ids["contract_id"]}, headers=bearer)
    assert response.status_code == 403
    error = response.get_json()["error"]
    assert error["code"] == "forbidden" and "privilege" in error["message"]
    after = {s: count_rows(dataverse_client, s) for s in before}
    assert after["invoices"] == before["invoices"]
    # a failed row is recorded like any other (its run item Failed, the schedule Error with the message)
    assert {s: after[s] - before[s] for s in ("w365_invoiceruns", "w365_invoicerunitems", "w365_billingschedules")} \
        == {"w365_invoiceruns": 1, "w365_invoicerunitems": 1, "w365_billingschedules": 1}
    ok = client.post("/api/v1/invoices", json={"billing_contract_id": ids["contract_id"]},
                     headers={"Authorization": f"Bearer {token(signing_key, world.billing_user['azureactivedirectoryobjectid'])}"})
    assert ok.status_code == 201
    invoice = ok.get_json()["result"]["invoice"]
    assert count_rows(dataverse_client, "invoices", odata.eq("invoiceid", invoice["id"])) == 1


def test_dev_mode_serves_loopback_only(plugin_app, contract):
    client = plugin_app.test_client()
    assert _cycles(client, contract).status_code == 200
    remote = client.get(f"/api/v1/billing-contracts/{contract['contract_id']}/cycles",
                        environ_base={"REMOTE_ADDR": "10.1.2.3"})
    assert remote.status_code == 403 and remote.get_json()["error"]["code"] == "forbidden"
    ipv6 = client.get(f"/api/v1/billing-contracts/{contract['contract_id']}/cycles?as_of=2026-02-01",
                      environ_base={"REMOTE_ADDR": "::1"})
    assert ipv6.status_code == 200


def test_assert_bind_allowed():
    dev = Config(api_auth=("dev",))
    for host in ("127.0.0.1", "localhost", "::1", "127.0.0.2", "[::1]"):
        assert_bind_allowed(dev, host)
    for host in ("0.0.0.0", "::", "10.0.0.5", "example.com", ""):
        with pytest.raises(UnsafeBindError):
            assert_bind_allowed(dev, host)
    assert_bind_allowed(Config(api_auth=("keys",), api_keys=("k",)), "0.0.0.0")
