"""msal itself signs users in against the local Dataverse over https: the authorization code flow
with PKCE (`initiate_auth_code_flow` -> the authorize page -> `acquire_token_by_auth_code_flow`),
refresh tokens, the refusals, and the user's token acting as that user on the Web API."""

from __future__ import annotations

import copy
import html
import re
import uuid
from urllib.parse import parse_qs, urlsplit

import msal
import pytest
import requests

from .conftest import Api, error_code

REDIRECT = "http://localhost:8765/signin-callback"
_HIDDEN = re.compile(r'<input type=hidden name="([^"]*)" value="([^"]*)">')


@pytest.fixture(scope="module")
def people(tls_dataverse):
    made = {}
    with pytest.MonkeyPatch.context() as env:
        env.setenv("REQUESTS_CA_BUNDLE", tls_dataverse.ca_path)
        for role in (0, 2):
            made[role] = _user(Api(tls_dataverse), role)
    return made


def _user(api: Api, role: int) -> dict:
    aad = str(uuid.uuid4())
    ident = api.create("systemusers", {"fullname": f"Msal Role {role}",
                                       "domainname": f"msal{role}@local.test",
                                       "azureactivedirectoryobjectid": aad,
                                       "w365_billingrole": role})
    return {"id": ident, "aad": aad}


def client(dv, secret: str = "local-secret") -> msal.ConfidentialClientApplication:
    return msal.ConfidentialClientApplication(
        "local-client", client_credential=secret, authority=f"{dv.url}/local",
        instance_discovery=False)


def pick(flow: dict, systemuserid: str) -> dict:
    """What the browser does: open the authorize page, press the user's button, and land on
    the redirect_uri (its query is the auth response msal wants)."""
    page = requests.get(flow["auth_uri"], timeout=10)
    assert page.status_code == 200, page.text
    form = {html.unescape(k): html.unescape(v) for k, v in _HIDDEN.findall(page.text)}
    answer = requests.post(page.url.split("?")[0], data={**form, "systemuserid": systemuserid},
                           allow_redirects=False, timeout=10)
    if answer.status_code == 200:  # response_mode=form_post: a form posting to redirect_uri
        assert f'action="{REDIRECT}"' in answer.text
        return {html.unescape(k): html.unescape(v) for k, v in _HIDDEN.findall(answer.text)}
    assert answer.status_code == 302, answer.text
    location = urlsplit(answer.headers["Location"])
    assert f"{location.scheme}://{location.netloc}{location.path}" == REDIRECT
    return {k: v[0] for k, v in parse_qs(location.query).items()}


def sign_in(dv, systemuserid: str, app=None, mode: str = "form_post") -> tuple[dict, dict]:
    app = app or client(dv)
    flow = app.initiate_auth_code_flow([f"{dv.url}/user_impersonation"], redirect_uri=REDIRECT,
                                       response_mode=mode)
    assert "code_challenge=" in flow["auth_uri"]
    assert "code_challenge_method=S256" in flow["auth_uri"]
    return flow, pick(flow, systemuserid)


def test_msal_signs_a_user_in_and_refreshes(tls_dataverse, trust_local_ca, people):
    app = client(tls_dataverse)
    flow, response = sign_in(tls_dataverse, people[2]["id"], app)
    result = app.acquire_token_by_auth_code_flow(flow, response)
    assert "access_token" in result, result
    assert result["id_token_claims"]["oid"] == people[2]["aad"]
    assert result["id_token_claims"]["preferred_username"] == "msal2@local.test"
    accounts = app.get_accounts()
    assert [a["local_account_id"] for a in accounts] == [people[2]["aad"]]
    refreshed = app.acquire_token_by_refresh_token(
        result["refresh_token"], scopes=[f"{tls_dataverse.url}/user_impersonation"])
    assert "access_token" in refreshed, refreshed
    assert refreshed["refresh_token"] != result["refresh_token"]
    assert refreshed["id_token_claims"]["oid"] == people[2]["aad"]
    api = Api(tls_dataverse)
    who = api.get("WhoAmI", token=refreshed["access_token"])
    assert who.status_code == 200 and who.json()["UserId"] == people[2]["id"]


@pytest.mark.filterwarnings("ignore:response_mode='form_post' is recommended")
def test_a_users_token_from_msal_is_that_user_on_the_web_api(tls_dataverse, trust_local_ca,
                                                              people):
    api = Api(tls_dataverse)
    tokens = {}
    for role in (0, 2):
        app = client(tls_dataverse)
        flow, response = sign_in(tls_dataverse, people[role]["id"], app, mode="query")
        tokens[role] = app.acquire_token_by_auth_code_flow(flow, response)["access_token"]
    before = api.count("invoices")
    denied = api.post("invoices", {"name": "role 0 via msal"}, token=tokens[0])
    assert denied.status_code == 403 and error_code(denied) == "0x80040220"
    assert api.count("invoices") == before
    made = api.post("invoices", {"name": "billing via msal"}, token=tokens[2])
    assert made.status_code == 204, made.text
    assert api.count("invoices") == before + 1


def test_msal_gets_refusals(tls_dataverse, trust_local_ca, people):
    app = client(tls_dataverse)
    flow, response = sign_in(tls_dataverse, people[2]["id"], app)
    wrong = dict(copy.deepcopy(flow), code_verifier="w" * 43)
    refused = app.acquire_token_by_auth_code_flow(wrong, response)
    assert refused.get("error") == "invalid_grant", refused
    # that attempt redeemed the code: the right verifier now finds it used
    reused = app.acquire_token_by_auth_code_flow(copy.deepcopy(flow), response)
    assert reused.get("error") == "invalid_grant", reused
    assert "already been redeemed" in reused["error_description"]

    bad_secret = client(tls_dataverse, secret="not-the-secret")
    flow, response = sign_in(tls_dataverse, people[2]["id"], bad_secret)
    result = bad_secret.acquire_token_by_auth_code_flow(flow, response)
    assert result.get("error") == "invalid_client", result

    foreign = app.initiate_auth_code_flow([f"{tls_dataverse.url}/user_impersonation"],
                                          redirect_uri="https://app.example.com/callback",
                                          response_mode="form_post")
    page = requests.get(foreign["auth_uri"], allow_redirects=False, timeout=10)
    assert page.status_code == 400 and "Location" not in page.headers
    assert "AADSTS50011" in page.text
