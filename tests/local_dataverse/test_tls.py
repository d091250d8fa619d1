"""The local Dataverse over TLS: its own CA, https discovery, msal's and the connector's
production https path (msal accepts only https authorities)."""
from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import msal
import pytest
import requests

from connectors.dataverse.errors import AuthenticationError
from connectors.local_dataverse import LocalDataverse
from tests.conftest import make_client

W365 = [sys.executable, "-c", "from plugin.cli import main; main()"]


def test_certificates_are_made_once_and_kept(tmp_path):
    first = LocalDataverse(tls=True, tls_dir=str(tmp_path))
    ca = Path(first.ca_path).read_bytes()
    second = LocalDataverse(tls=True, tls_dir=str(tmp_path))
    assert Path(second.ca_path).read_bytes() == ca and b"BEGIN CERTIFICATE" in ca
    assert {p.name for p in tmp_path.iterdir()} == {"ca.pem", "ca-key.pem", "server.pem",
                                                     "server-key.pem"}
    assert (tmp_path / "server-key.pem").stat().st_mode & 0o077 == 0
    first.store.close()
    second.store.close()


def test_certificates_live_beside_the_database_file(tmp_path):
    dv = LocalDataverse(db_path=str(tmp_path / "db" / "dv.sqlite3"), tls=True)
    assert Path(dv.ca_path) == tmp_path / "db" / "tls" / "ca.pem"
    dv.store.close()


def test_discovery_advertises_https(tls_dataverse, trust_local_ca):
    assert tls_dataverse.url.startswith("https://127.0.0.1:")
    config = requests.get(f"{tls_dataverse.authority}/v2.0/.well-known/openid-configuration",
                          timeout=10).json()
    assert config["token_endpoint"] == f"{tls_dataverse.authority}/oauth2/v2.0/token"


def test_an_untrusted_certificate_is_refused(tls_dataverse, monkeypatch):
    monkeypatch.delenv("REQUESTS_CA_BUNDLE", raising=False)
    monkeypatch.delenv("CURL_CA_BUNDLE", raising=False)
    with pytest.raises(requests.exceptions.SSLError):
        requests.get(tls_dataverse.api_url, timeout=10)


def test_msal_confidential_client_against_the_https_authority(tls_dataverse, trust_local_ca):
    app = msal.ConfidentialClientApplication(
        "local-client", client_credential="local-secret", authority=tls_dataverse.authority,
        instance_discovery=False)
    result = app.acquire_token_for_client(scopes=[f"{tls_dataverse.url}/.default"])
    assert "access_token" in result, result
    who = requests.get(tls_dataverse.api_url + "WhoAmI", timeout=10,
                       headers={"Authorization": f"Bearer {result['access_token']}"})
    assert who.status_code == 200 and who.json()["UserId"]
    again = app.acquire_token_for_client(scopes=[f"{tls_dataverse.url}/.default"])
    assert again["access_token"] == result["access_token"]  # msal's cache


def test_the_connector_runs_its_production_path_over_tls(tls_dataverse, trust_local_ca):
    client = make_client(tls_dataverse)
    token = client.token_provider()
    assert token and token != "local-dev-token"
    ident = client.create("accounts", {"name": "Over TLS"})
    assert client.get("accounts", ident, select=["name"])["name"] == "Over TLS"
    client.update("accounts", ident, {"name": "Still TLS"})
    rows = list(client.query("accounts", select=["name"], filter="name eq 'Still TLS'"))
    assert [r["name"] for r in rows] == ["Still TLS"]
    run = client.create("w365_invoiceruns", {"w365_runkey": "tls-run", "w365_name": "r"})
    assert client.get("w365_invoiceruns", {"w365_runkey": "tls-run"},
                      select=["w365_invoicerunid"])["w365_invoicerunid"] == run
    client.delete("accounts", ident)


def test_the_connector_refuses_an_untrusted_server(tls_dataverse, monkeypatch):
    monkeypatch.delenv("REQUESTS_CA_BUNDLE", raising=False)
    monkeypatch.delenv("CURL_CA_BUNDLE", raising=False)
    client = make_client(tls_dataverse, retry_budget_s=0)
    with pytest.raises(AuthenticationError, match="CERTIFICATE_VERIFY_FAILED"):
        client.create("accounts", {"name": "never"})


def test_the_cli_serves_https_and_prints_its_ca(tmp_path):
    proc = subprocess.Popen(
        [*W365, "dataverse-local", "--port", "0", "--db", str(tmp_path / "dv.sqlite3"), "--tls"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        cwd=Path(__file__).resolve().parents[2])
    try:
        lines = [proc.stdout.readline() for _ in range(5)]
        assert lines[0].startswith("Local Dataverse: https://127.0.0.1:"), lines
        url = lines[0].split(": ", 1)[1].strip()
        ca = next(line.split(":", 1)[1].strip() for line in lines if "CA file:" in line)
        assert Path(ca) == tmp_path / "tls" / "ca.pem"
        resp = requests.get(f"{url}/api/data/v9.2/WhoAmI", verify=ca, timeout=10,
                            headers={"Authorization": "Bearer local-dev-token"})
        assert resp.status_code == 200
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
