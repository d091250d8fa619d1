"""The local Dataverse plays Entra (plain http): RS256 tokens verified by the JWKS with PyJWT,
the authorize page and its refusals, the code + PKCE and refresh grants, `/_admin/tokens`, and a
user's token acting as that user on the Web API."""

from __future__ import annotations

import base64
import hashlib
import html
import json
import re
import secrets
import uuid
from urllib.parse import parse_qs, urlsplit

import jwt
import pytest
import requests

from connectors.local_dataverse import LocalDataverse
from connectors.local_dataverse.tokens import TENANT_ID

from .conftest import error_code

REDIRECT = "http://127.0.0.1:5999/auth/callback"
_HIDDEN = re.compile(r'<input type=hidden name="([^"]*)" value="([^"]*)">')
_USER_BUTTON = re.compile(r'name=systemuserid value="([^"]*)"')


def pkce() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(40)
    digest = hashlib.sha256(verifier.encode()).digest()
    return verifier, base64.urlsafe_b64encode(digest).decode().rstrip("=")


@pytest.fixture(scope="module")
def users(api):
    made = {}
    for role in (0, 2):
        aad = str(uuid.uuid4())
        ident = api.create("systemusers", {"fullname": f"Entra Role {role}",
                                           "domainname": f"role{role}@local.test",
                                           "azureactivedirectoryobjectid": aad,
                                           "w365_billingrole": role})
        made[role] = {"id": ident, "aad": aad}
    made["no_oid"] = {"id": api.create("systemusers", {"fullname": "No Object Id"})}
    return made


def authorize_params(dv, challenge: str, **extra) -> dict[str, str]:
    return {"client_id": "local-client", "redirect_uri": REDIRECT, "response_type": "code",
            "scope": f"{dv.url}/user_impersonation openid profile offline_access",
            "state": "st-1", "nonce": "n-1", "code_challenge": challenge,
            "code_challenge_method": "S256", **extra}


def sign_in(dv, params: dict[str, str], systemuserid: str) -> requests.Response:
    """Fetch the authorize page and press the user's button (the redirect is not followed)."""
    page = requests.get(f"{dv.url}/local/oauth2/v2.0/authorize", params=params, timeout=10)
    assert page.status_code == 200, page.text
    form = {html.unescape(k): html.unescape(v) for k, v in _HIDDEN.findall(page.text)}
    return requests.post(f"{dv.url}/local/oauth2/v2.0/authorize",
                         data={**form, "systemuserid": systemuserid}, allow_redirects=False,
                         timeout=10)


def code_of(resp: requests.Response) -> str:
    assert resp.status_code == 302, resp.text
    query = parse_qs(urlsplit(resp.headers["Location"]).query)
    assert query["state"] == ["st-1"]
    return query["code"][0]


def token(dv, **form) -> requests.Response:
    data = {"client_id": "local-client", "client_secret": "local-secret", **form}
    return requests.post(f"{dv.url}/local/oauth2/v2.0/token", data=data, timeout=10)


def redeem(dv, code: str, verifier: str, **form) -> requests.Response:
    return token(dv, grant_type="authorization_code", code=code, redirect_uri=REDIRECT,
                 code_verifier=verifier, **form)


def verify(dv, encoded: str, audience: str) -> dict:
    jwks = requests.get(f"{dv.url}/local/discovery/v2.0/keys", timeout=10).json()
    kid = jwt.get_unverified_header(encoded)["kid"]
    key = next(k for k in jwks["keys"] if k["kid"] == kid)
    assert key["kty"] == "RSA" and key["use"] == "sig" and key["alg"] == "RS256"
    public = jwt.PyJWK(key).key
    issuer = requests.get(f"{dv.url}/local/v2.0/.well-known/openid-configuration",
                          timeout=10).json()["issuer"]
    return jwt.decode(encoded, public, algorithms=["RS256"], audience=audience, issuer=issuer)


def test_discovery_lists_the_user_sign_in(local_dataverse):
    config = requests.get(f"{local_dataverse.url}/local/v2.0/.well-known/openid-configuration",
                          timeout=10).json()
    assert config["issuer"] == f"{local_dataverse.url}/{TENANT_ID}/v2.0"
    assert config["authorization_endpoint"] == f"{local_dataverse.url}/local/oauth2/v2.0/authorize"
    assert config["jwks_uri"] == f"{local_dataverse.url}/local/discovery/v2.0/keys"
    assert set(config["grant_types_supported"]) == {"client_credentials", "authorization_code",
                                                     "refresh_token"}
    assert "S256" in config["code_challenge_methods_supported"]
    assert config["id_token_signing_alg_values_supported"] == ["RS256"]


def test_client_credentials_tokens_are_rs256_jwts_of_the_application(local_dataverse, api):
    resp = token(local_dataverse, grant_type="client_credentials",
                 scope=f"{local_dataverse.url}/.default")
    claims = verify(local_dataverse, resp.json()["access_token"], local_dataverse.url)
    assert claims["sub"] == claims["appid"] == "local-client" and "oid" not in claims
    assert claims["ver"] == "2.0" and claims["tid"] == TENANT_ID and claims["idtyp"] == "app"
    assert claims["exp"] > claims["iat"] and "nbf" in claims
    assert api.get("WhoAmI", token=resp.json()["access_token"]).status_code == 200


def test_the_signing_key_survives_a_restart_of_the_database(tmp_path):
    path = str(tmp_path / "dv.sqlite3")
    first = LocalDataverse(db_path=path).start()
    issued = token(first, grant_type="client_credentials", scope=f"{first.url}/.default")
    keys = requests.get(f"{first.url}/local/discovery/v2.0/keys", timeout=10).json()
    port = urlsplit(first.url).port
    first.stop()
    second = LocalDataverse(db_path=path, port=port).start()
    try:
        assert requests.get(f"{second.url}/local/discovery/v2.0/keys", timeout=10).json() == keys
        who = requests.get(second.api_url + "WhoAmI", timeout=10,
                           headers={"Authorization": f"Bearer {issued.json()['access_token']}"})
        assert who.status_code == 200
    finally:
        second.stop()


def test_the_code_flow_with_pkce_and_refresh(local_dataverse, users, api):
    dv = local_dataverse
    page = requests.get(f"{dv.url}/local/oauth2/v2.0/authorize",
                        params=authorize_params(dv, pkce()[1]), timeout=10)
    assert "Entra Role 2" in page.text and "role2@local.test" in page.text
    assert "Billing" in page.text and users[2]["id"] in page.text
    assert users["no_oid"]["id"] not in page.text  # no object id: cannot sign in
    verifier, challenge = pkce()
    code = code_of(sign_in(dv, authorize_params(dv, challenge), users[2]["id"]))
    resp = redeem(dv, code, verifier)
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["token_type"] == "Bearer" and body["expires_in"] > 0 and body["refresh_token"]
    assert json.loads(base64.urlsafe_b64decode(body["client_info"] + "==")) == {
        "uid": users[2]["aad"], "utid": TENANT_ID}
    access = verify(dv, body["access_token"], dv.url)
    assert access["oid"] == users[2]["aad"] and access["scp"] == "user_impersonation"
    assert access["preferred_username"] == "role2@local.test" and access["name"] == "Entra Role 2"
    ident = verify(dv, body["id_token"], "local-client")
    assert ident["oid"] == users[2]["aad"] and ident["nonce"] == "n-1" and ident["sub"]
    assert api.post("invoices", {"name": "by token"},
                    token=body["access_token"]).status_code == 204
    again = redeem(dv, code, verifier)  # a code is single use
    assert again.status_code == 400 and again.json()["error"] == "invalid_grant"
    refreshed = token(dv, grant_type="refresh_token", refresh_token=body["refresh_token"])
    assert refreshed.status_code == 200, refreshed.text
    assert refreshed.json()["refresh_token"] != body["refresh_token"]
    assert verify(dv, refreshed.json()["access_token"], dv.url)["oid"] == users[2]["aad"]
    reused = token(dv, grant_type="refresh_token", refresh_token=body["refresh_token"])
    assert reused.status_code == 400 and reused.json()["error"] == "invalid_grant"


@pytest.mark.parametrize("change", [
    {"code_verifier": "x" * 43},
    {"code_verifier": ""},
    {"redirect_uri": "http://127.0.0.1:5999/other"},
])
def test_a_code_is_refused_with_the_wrong_verifier_or_redirect(local_dataverse, users, change):
    verifier, challenge = pkce()
    code = code_of(sign_in(local_dataverse, authorize_params(local_dataverse, challenge),
                           users[2]["id"]))
    form = {"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT,
            "code_verifier": verifier, **change}
    resp = token(local_dataverse, **form)
    assert resp.status_code == 400 and resp.json()["error"] == "invalid_grant"
    assert resp.json()["error_description"].startswith("AADSTS")


def test_a_code_needs_the_client_secret(local_dataverse, users):
    verifier, challenge = pkce()
    code = code_of(sign_in(local_dataverse, authorize_params(local_dataverse, challenge),
                           users[2]["id"]))
    resp = redeem(local_dataverse, code, verifier, client_secret="wrong")
    assert resp.status_code == 401 and resp.json()["error"] == "invalid_client"
    basic = requests.post(f"{local_dataverse.url}/local/oauth2/v2.0/token",
                          auth=("local-client", "local-secret"), timeout=10,
                          data={"grant_type": "authorization_code", "code": code,
                                "redirect_uri": REDIRECT, "code_verifier": verifier})
    assert basic.status_code == 200, basic.text  # HTTP Basic works too; the code was not used


@pytest.mark.parametrize("change", [
    {"redirect_uri": "https://evil.example/cb"},
    {"redirect_uri": "http://127.0.0.1:5999/cb#frag"},
    {"redirect_uri": "javascript:alert(1)"},
    {"client_id": "someone-else"},
])
def test_a_bad_client_or_redirect_uri_is_shown_never_redirected_to(local_dataverse, change):
    params = authorize_params(local_dataverse, pkce()[1], **change)
    for resp in (
        requests.get(f"{local_dataverse.url}/local/oauth2/v2.0/authorize", params=params,
                     allow_redirects=False, timeout=10),
        requests.post(f"{local_dataverse.url}/local/oauth2/v2.0/authorize",
                      data={**params, "systemuserid": str(uuid.uuid4())},
                      allow_redirects=False, timeout=10),
    ):
        assert resp.status_code == 400 and "Location" not in resp.headers
        assert resp.headers["Content-Type"].startswith("text/html") and "AADSTS" in resp.text
        assert "<script" not in resp.text.lower()


@pytest.mark.parametrize("change, error", [
    ({"response_type": "token"}, "unsupported_response_type"),
    ({"scope": ""}, "invalid_request"),
    ({"scope": "https://a.example/x https://b.example/y"}, "invalid_scope"),
    ({"code_challenge": ""}, "invalid_request"),
    ({"code_challenge_method": "S512"}, "invalid_request"),
    ({"response_mode": "bogus"}, "invalid_request"),
    ({"prompt": "none"}, "login_required"),
])
def test_authorize_errors_go_back_to_the_client(local_dataverse, change, error):
    params = authorize_params(local_dataverse, pkce()[1], **change)
    resp = requests.get(f"{local_dataverse.url}/local/oauth2/v2.0/authorize", params=params,
                        allow_redirects=False, timeout=10)
    assert resp.status_code == 302
    location = urlsplit(resp.headers["Location"])
    assert f"{location.scheme}://{location.netloc}{location.path}" == REDIRECT
    query = parse_qs(location.query)
    assert query["error"] == [error] and query["state"] == ["st-1"] and "code" not in query


def test_an_unknown_or_objectless_user_cannot_be_picked(local_dataverse, users):
    params = authorize_params(local_dataverse, pkce()[1])
    for who in (str(uuid.uuid4()), users["no_oid"]["id"], "not-a-guid", ""):
        resp = requests.post(f"{local_dataverse.url}/local/oauth2/v2.0/authorize",
                             data={**params, "systemuserid": who}, allow_redirects=False,
                             timeout=10)
        assert resp.status_code == 400 and "Location" not in resp.headers


def test_form_post_and_plain_pkce(local_dataverse, users):
    params = authorize_params(local_dataverse, "plain-verifier-" + "v" * 40,
                              code_challenge_method="plain", response_mode="form_post")
    resp = sign_in(local_dataverse, params, users[0]["id"])
    assert resp.status_code == 200 and f'action="{REDIRECT}"' in resp.text
    fields = {html.unescape(k): html.unescape(v) for k, v in _HIDDEN.findall(resp.text)}
    assert fields["state"] == "st-1"
    ok = redeem(local_dataverse, fields["code"], "plain-verifier-" + "v" * 40)
    assert ok.status_code == 200, ok.text


@pytest.mark.parametrize("form", [
    {"grant_type": "authorization_code"},
    {"grant_type": "authorization_code", "code": "nope", "redirect_uri": REDIRECT},
    {"grant_type": "refresh_token"},
    {"grant_type": "refresh_token", "refresh_token": "nope"},
])
def test_bad_user_grant_requests(local_dataverse, form):
    resp = token(local_dataverse, **form)
    assert resp.status_code == 400 and resp.json()["error"] in ("invalid_request",
                                                                "invalid_grant")


def test_user_tokens_act_as_their_user_on_the_web_api(local_dataverse, users, api):
    def issue(role):
        resp = requests.post(f"{local_dataverse.url}/_admin/tokens", timeout=10,
                             json={"systemuserid": users[role]["id"],
                                   "audience": local_dataverse.url})
        assert resp.status_code == 200, resp.text
        assert resp.json()["oid"] == users[role]["aad"] and resp.json()["expires_in"] > 0
        return resp.json()["access_token"]

    role0, billing = issue(0), issue(2)
    assert verify(local_dataverse, role0, local_dataverse.url)["oid"] == users[0]["aad"]
    before = api.count("invoices")
    denied = api.post("invoices", {"name": "denied"}, token=role0)
    assert denied.status_code == 403 and error_code(denied) == "0x80040220"
    # a user's token cannot impersonate another user
    smuggled = api.post("invoices", {"name": "denied"}, token=role0,
                        headers={"MSCRMCallerID": users[2]["id"]})
    assert smuggled.status_code == 403 and error_code(smuggled) == "0x80040220"
    assert api.count("invoices") == before
    assert api.get("WhoAmI", token=billing).json()["UserId"] == users[2]["id"]
    assert api.post("invoices", {"name": "allowed"}, token=billing).status_code == 204
    # a token for another resource is refused
    other = requests.post(f"{local_dataverse.url}/_admin/tokens", timeout=10,
                          json={"systemuserid": users[2]["id"],
                                "audience": "https://graph.microsoft.com"}).json()
    assert api.get("WhoAmI", token=other["access_token"]).status_code == 401


@pytest.mark.parametrize("body", [
    b"not json", b"[]", b"{}",
    json.dumps({"systemuserid": str(uuid.uuid4()), "audience": "http://x"}).encode(),
    json.dumps({"systemuserid": "nope", "audience": "http://x"}).encode(),
    json.dumps({"audience": "http://x"}).encode(),
    json.dumps({"systemuserid": str(uuid.uuid4()), "audience": 3}).encode(),
])
def test_admin_tokens_refuses_bad_input(local_dataverse, body):
    before = local_dataverse.stats()["http_requests"]
    resp = requests.post(f"{local_dataverse.url}/_admin/tokens", data=body, timeout=10)
    assert resp.status_code == 400 and resp.json()["error"]["message"]
    assert local_dataverse.stats()["http_requests"] == before  # /_admin is never counted


def test_admin_tokens_refuses_a_user_without_object_id_and_bad_scope(local_dataverse, users):
    for body in ({"systemuserid": users["no_oid"]["id"], "audience": local_dataverse.url},
                 {"systemuserid": users[2]["id"], "audience": local_dataverse.url, "scope": 1},
                 {"systemuserid": users[2]["id"], "audience": local_dataverse.url, "x": 1}):
        resp = requests.post(f"{local_dataverse.url}/_admin/tokens", json=body, timeout=10)
        assert resp.status_code == 400 and resp.json()["error"]["code"]


@pytest.mark.parametrize("params", [
    {"redirect_uri": "http://127.0.0.1/cb\r\nSet-Cookie: x=1"},
    {"redirect_uri": "http://127.0.0.1:99999/cb"},
    {"redirect_uri": "http://[::1/cb"},
    {"redirect_uri": "http://127.0.0.1/cé"},
    {"state": "a\r\nb", "nonce": "<script>", "scope": "://x/ openid"},
    {"scope": "https://x.example/"},
    {"code_challenge_method": "", "response_mode": ""},
])
def test_malformed_authorize_requests_are_4xx_or_redirects(local_dataverse, params):
    full = authorize_params(local_dataverse, pkce()[1], **params)
    for resp in (
        requests.get(f"{local_dataverse.url}/local/oauth2/v2.0/authorize", params=full,
                     allow_redirects=False, timeout=10),
        requests.post(f"{local_dataverse.url}/local/oauth2/v2.0/authorize",
                      data={**full, "systemuserid": "x"}, allow_redirects=False, timeout=10),
    ):
        assert resp.status_code in (200, 302, 400), resp.text
        assert "<script>" not in resp.text


@pytest.mark.parametrize("bearer", [
    "a.b.c", "eyJhbGciOiJub25lIn0.eyJ2ZXIiOiIyLjAifQ.", "eyJ.eyJ.sig", "é", "x" * 5000,
])
def test_malformed_bearer_tokens_are_401(api, bearer):
    assert api.get("WhoAmI", token=bearer).status_code == 401


def test_a_token_signed_by_another_store_or_forged_is_401(local_dataverse, api):
    other = LocalDataverse().start()
    try:
        foreign = token(other, grant_type="client_credentials",
                        scope=f"{local_dataverse.url}/.default").json()["access_token"]
    finally:
        other.stop()
    assert api.get("WhoAmI", token=foreign).status_code == 401
    real = token(local_dataverse, grant_type="client_credentials",
                 scope=f"{local_dataverse.url}/.default").json()["access_token"]
    head, payload, sig = real.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=="))
    claims["oid"] = str(uuid.uuid4())
    forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).decode().rstrip("=")
    assert api.get("WhoAmI", token=f"{head}.{forged}.{sig}").status_code == 401
