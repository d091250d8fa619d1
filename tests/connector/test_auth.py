"""Token providers: msal client credentials (secret, certificate), https-only authorities, logs."""

from __future__ import annotations

import logging
from urllib.parse import parse_qs

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from connectors.dataverse import DataverseClient, errors
from connectors.dataverse.auth import is_loopback_host, token_provider

from .conftest import API, ORG

SECRET = "s3cr3t-Value-never-logged"


def stub_authority(rsps, authority: str, token_url: str | None = None) -> str:
    """OIDC discovery for `authority` (as msal requests it) answering with `token_url`."""
    token_url = token_url or authority + "/oauth2/v2.0/token"
    rsps.get(
        authority + "/v2.0/.well-known/openid-configuration",
        json={
            "authorization_endpoint": authority + "/oauth2/v2.0/authorize",
            "token_endpoint": token_url,
            "issuer": authority + "/v2.0",
        },
    )
    return token_url


def token_body(token: str) -> dict:
    return {"access_token": token, "token_type": "Bearer", "expires_in": 3600}


def test_fixed_token_bypasses_msal():
    provider = token_provider(resource_url=ORG, fixed_token="local-dev-token")
    assert provider() == "local-dev-token" and provider(force_refresh=True) == "local-dev-token"
    assert "local-dev-token" not in repr(provider)


def test_client_secret_flow_is_cache_first_and_scoped_to_the_org(rsps):
    authority = "https://login.example.com/tenant-1"
    token_url = stub_authority(rsps, authority)
    rsps.post(token_url, json=token_body("AT-1"))
    rsps.post(token_url, json=token_body("AT-2"))
    provider = token_provider(
        resource_url=ORG + "/", client_id="app-1", client_secret=SECRET, authority=authority
    )
    assert provider() == "AT-1"
    assert provider() == "AT-1"  # from msal's cache: one token request
    form = parse_qs(rsps.calls[1].request.body)
    assert form["grant_type"] == ["client_credentials"]
    assert form["scope"] == [ORG + "/.default"]
    assert form["client_id"] == ["app-1"] and form["client_secret"] == [SECRET]
    assert provider(force_refresh=True) == "AT-2"
    assert len(rsps.calls) == 3


def test_default_authority_is_entra_for_the_tenant():
    provider = token_provider(resource_url=ORG, tenant_id="t-42", client_id="c", client_secret="s")
    assert provider.authority == "https://login.microsoftonline.com/t-42"


def test_certificate_credential_sends_a_signed_assertion(rsps, tmp_path):
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    cert_path = tmp_path / "app.pem"
    cert_path.write_text(pem)
    authority = "https://login.example.com/tenant-2"
    token_url = stub_authority(rsps, authority)
    rsps.post(token_url, json=token_body("AT-cert"))
    provider = token_provider(
        resource_url=ORG,
        client_id="app-2",
        cert_path=str(cert_path),
        thumbprint="AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89:AB:CD:EF:01",
        authority=authority,
    )
    assert provider() == "AT-cert"
    form = parse_qs(rsps.calls[1].request.body)
    assert form["client_assertion_type"] == [
        "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
    ]
    assert form["client_assertion"][0].count(".") == 2 and "client_secret" not in form


def test_certificate_without_a_private_key_is_refused(tmp_path):
    path = tmp_path / "public.pem"
    path.write_text("-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n")
    with pytest.raises(ValueError, match="private key"):
        token_provider(
            resource_url=ORG,
            client_id="c",
            cert_path=str(path),
            thumbprint="ab",
            authority="https://x/y",
        )


def test_missing_credentials_are_refused():
    with pytest.raises(ValueError):
        token_provider(resource_url=ORG, client_id="c", tenant_id="t")
    with pytest.raises(ValueError):
        token_provider(resource_url=ORG, client_secret="s", tenant_id="t")


def test_token_failure_is_an_authentication_error_with_msal_text_and_no_secret(rsps, caplog):
    authority = "https://login.example.com/tenant-3"
    token_url = stub_authority(rsps, authority)
    rsps.post(
        token_url,
        status=401,
        json={
            "error": "invalid_client",
            "error_description": "AADSTS7000215: Invalid client secret provided.",
        },
    )
    provider = token_provider(
        resource_url=ORG, client_id="app-3", client_secret=SECRET, authority=authority
    )
    with caplog.at_level(logging.DEBUG):
        with pytest.raises(errors.AuthenticationError) as info:
            provider()
    assert "invalid_client" in str(info.value) and "AADSTS7000215" in str(info.value)
    assert SECRET not in str(info.value) and SECRET not in caplog.text


@pytest.mark.parametrize("authority", ["http://10.0.0.5/t", "http://login.example.com/t"])
def test_http_authority_is_refused(authority):
    with pytest.raises(ValueError, match="only https authorities"):
        token_provider(resource_url=ORG, client_id="c", client_secret="s", authority=authority)


def test_http_loopback_authority_is_refused_with_the_way_out():
    # msal takes only https; the local Dataverse serves https with --tls, or take the fixed token
    with pytest.raises(ValueError) as refused:
        token_provider(resource_url="http://127.0.0.1:9", client_id="local-client",
                       client_secret="local-secret", authority="http://127.0.0.1:9/local-tenant")
    assert "--tls" in str(refused.value) and "W365_DATAVERSE_TOKEN" in str(refused.value)


@pytest.mark.parametrize(
    "host, expected",
    [
        ("127.0.0.1", True),
        ("127.8.9.10", True),
        ("localhost", True),
        ("::1", True),
        ("[::1]", True),
        ("10.0.0.1", False),
        ("login.microsoftonline.com", False),
        ("127.0.0.1.example.com", False),
        (None, False),
    ],
)
def test_is_loopback_host(host, expected):
    assert is_loopback_host(host) is expected


def test_client_with_msal_retries_a_401_with_a_fresh_token_and_logs_no_secrets(rsps, caplog):
    authority = "https://login.example.com/tenant-4"
    token_url = stub_authority(rsps, authority)
    rsps.post(token_url, json=token_body("AT-old"))
    rsps.post(token_url, json=token_body("AT-new"))
    rsps.get(API + "accounts", status=401, json={"error": {"code": "", "message": "expired"}})
    rsps.get(API + "accounts", json={"value": []})
    provider = token_provider(
        resource_url=ORG, client_id="app-4", client_secret=SECRET, authority=authority
    )
    client = DataverseClient(ORG, token_provider=provider)
    with caplog.at_level(logging.DEBUG):
        client.request("GET", "accounts")
    auth = [
        c.request.headers.get("Authorization") for c in rsps.calls if c.request.url.startswith(API)
    ]
    assert auth == ["Bearer AT-old", "Bearer AT-new"]
    for secret in (SECRET, "AT-old", "AT-new"):
        assert secret not in caplog.text


def test_from_config_builds_the_provider(monkeypatch):
    from plugin.config import Config

    config = Config(
        dataverse_url="http://127.0.0.1:8800",
        dataverse_token="local-dev-token",
        interactive_retry_budget_s=7.0,
    )
    client = DataverseClient.from_config(config)
    assert client.api_url == "http://127.0.0.1:8800/api/data/v9.2/"
    assert client.token_provider() == "local-dev-token" and client.retry_budget_s == 7.0
    msal_config = Config(
        dataverse_url="https://org.crm.dynamics.com",
        tenant_id="t",
        client_id="c",
        client_secret="s",
    )
    provider = DataverseClient.from_config(msal_config, retry_budget_s=300).token_provider
    assert provider.authority == "https://login.microsoftonline.com/t"
    assert provider.scopes == ["https://org.crm.dynamics.com/.default"]


def test_unreachable_or_unknown_authority_is_an_authentication_error(rsps):
    authority = "https://login.example.com/no-such-tenant"
    rsps.get(authority + "/v2.0/.well-known/openid-configuration", status=404, json={})
    provider = token_provider(
        resource_url=ORG, client_id="c", client_secret=SECRET, authority=authority
    )
    with pytest.raises(errors.AuthenticationError, match="no-such-tenant") as info:
        provider()
    assert SECRET not in str(info.value)
