"""The admin commands fail with one clear line (no traceback) on privilege, auth and network errors."""
from __future__ import annotations

import re

import pytest
import responses
from click.testing import CliRunner

from plugin.cli import main
from plugin.config import Config
from tests.conftest import free_port

ORG = "https://contoso.crm.dynamics.com"
URL = "https://billing.example.com/api/v1/webhooks/dataverse"
MISSING_PRIVILEGE = {"error": {"code": "0x80040220",
                               "message": "Principal user (Id=1) is missing prvCreateCustomAPI privilege"}}


@pytest.fixture(autouse=True)
def _isolated(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    # an unreachable org must fail now, not after the interactive retry budget
    from_env = Config.from_env.__func__
    monkeypatch.setattr(Config, "from_env", classmethod(
        lambda cls, *a, **k: from_env(cls, *a, **k).with_overrides(interactive_retry_budget_s=0.0)))


def _run(*args: str, **env: str):
    environ = {"W365_DATAVERSE_URL": ORG, "W365_DATAVERSE_TOKEN": "a-token", "W365_WEBHOOK_KEYS": "",
               "W365_TENANT_ID": "", "W365_CLIENT_ID": "", "W365_CLIENT_SECRET": "", "W365_AUTHORITY": "", **env}
    return CliRunner().invoke(main, list(args), env=environ, catch_exceptions=False)


def _empty_reads(rsps: responses.RequestsMock) -> None:
    rsps.add(responses.GET, re.compile(re.escape(ORG) + r"/api/data/v9\.2/.*"), json={"value": []})


@responses.activate
def test_missing_privilege_on_write_is_explained():
    _empty_reads(responses.mock)
    responses.add(responses.POST, f"{ORG}/api/data/v9.2/customapis", status=403, json=MISSING_PRIVILEGE)
    result = _run("register", "--url", URL, "--webhook-key", "k" * 32)
    assert result.exit_code == 1
    assert "stopped after 0 of 5 changes" in result.output
    assert "lacks a privilege" in result.output and "prvCreateCustomAPI" in result.output
    assert "System Administrator or System Customizer" in result.output and "Traceback" not in result.output


@responses.activate
def test_missing_privilege_on_read_is_explained():
    responses.add(responses.GET, re.compile(re.escape(ORG) + r"/.*"), status=403, json=MISSING_PRIVILEGE)
    for args in (("registration-status",), ("unregister", "--all")):
        result = _run(*args)
        assert result.exit_code == 1 and "lacks a privilege" in result.output, result.output


@responses.activate
def test_rejected_token_is_explained():
    responses.add(responses.GET, re.compile(re.escape(ORG) + r"/.*"), status=401,
                  json={"error": {"code": "0x80072560", "message": "The user is not a member of the organization."}})
    result = _run("registration-status")
    assert result.exit_code == 1
    assert "did not accept the credentials" in result.output and "W365_DATAVERSE_TOKEN" in result.output


def test_unreachable_org_is_explained():
    port = free_port()  # a loopback port nobody listens on
    result = _run("register", "--url", URL, "--webhook-key", "k" * 32, W365_DATAVERSE_URL=f"http://127.0.0.1:{port}")
    assert result.exit_code == 1
    assert f"cannot reach Dataverse at http://127.0.0.1:{port}" in result.output
    assert "W365_DATAVERSE_URL" in result.output and "Traceback" not in result.output


def test_incomplete_credentials_are_explained():
    result = _run("registration-status", W365_DATAVERSE_TOKEN="", W365_CLIENT_ID="some-app")
    assert result.exit_code == 1 and "configuration is incomplete" in result.output
