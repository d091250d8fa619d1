"""Defaults that trust less: dev mode only on loopback with a local Dataverse, never through a proxy;
allowed host names; bounded headers; no webhook key in any log line."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import requests
from click.testing import CliRunner

from plugin.app import create_app
from plugin.auth import UnsafeBindError, assert_bind_allowed
from plugin.cli import main
from plugin.config import Config
from tests import factories
from tests.conftest import free_port, wait_until_serving
from tests.e2e.conftest import WEBHOOK_KEYS, execution_context

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


def test_dev_mode_needs_a_loopback_bind_and_a_loopback_dataverse():
    local = Config(api_auth=("dev",), dataverse_url="http://127.0.0.1:8800")
    assert_bind_allowed(local, "127.0.0.1")
    with pytest.raises(UnsafeBindError):
        assert_bind_allowed(local, "0.0.0.0")
    with pytest.raises(UnsafeBindError, match="loopback Dataverse"):
        assert_bind_allowed(Config(api_auth=("dev",), dataverse_url="https://contoso.crm.dynamics.com"), "127.0.0.1")
    assert_bind_allowed(Config(api_auth=("keys",), dataverse_url="https://contoso.crm.dynamics.com"), "0.0.0.0")


def test_serve_refuses_dev_mode_against_a_real_org():
    result = CliRunner().invoke(main, ["serve", "--port", str(free_port())], env={
        "W365_API_AUTH": "dev", "W365_DATAVERSE_URL": "https://contoso.crm.dynamics.com"})
    assert result.exit_code == 1 and "loopback Dataverse" in result.output


def test_gunicorn_refuses_dev_mode_on_a_public_bind():
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("W365_")}, "W365_API_AUTH": "dev",
           "W365_DATAVERSE_URL": "http://127.0.0.1:9"}
    done = subprocess.run([str(BIN / "gunicorn"), "-c", "gunicorn.conf.py", "--bind", f"0.0.0.0:{free_port()}"],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode != 0 and "refusing to bind" in done.stderr


def test_dev_mode_refuses_requests_through_a_proxy(api):
    assert api.get("/api/v1/invoice-runs").status_code == 200
    for header in ({"X-Forwarded-For": "203.0.113.9"}, {"Forwarded": "for=203.0.113.9"}):
        response = api.get("/api/v1/invoice-runs", headers=header)
        assert response.status_code == 403 and "proxy" in response.get_json()["error"]["message"]


def test_only_allowed_host_names_are_answered(dataverse_client):
    dev = create_app(Config(api_auth=("dev",)), dataverse=dataverse_client).test_client()
    assert dev.get("/api/v1/health", headers={"Host": "127.0.0.1:5000"}).status_code == 200
    rebound = dev.get("/api/v1/health", headers={"Host": "attacker.example"})
    assert rebound.status_code == 400 and rebound.get_json()["error"]["code"] == "host_not_allowed"
    listed = create_app(Config(api_auth=("keys",), api_keys=("k",), allowed_hosts=("invoicing.contoso.com",)),
                        dataverse=dataverse_client).test_client()
    assert listed.get("/api/v1/health", headers={"Host": "invoicing.contoso.com"}).status_code == 200
    assert listed.get("/api/v1/health", headers={"Host": "other.contoso.com"}).status_code == 400
    assert listed.get("/pages/runs", headers={"Host": "other.contoso.com"}).status_code == 400


def test_headers_over_16_kib_are_refused(api):
    response = api.get("/api/v1/health", headers={"X-Padding": "x" * 17000})
    assert response.status_code == 431 and set(response.get_json()["error"]) == {"code", "message", "details"}


def test_the_webhook_key_in_the_query_never_reaches_the_access_log(local_dataverse, dataverse_client, world):
    contract = factories.license_contract(dataverse_client, world)["contract_id"]
    port = free_port()
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("W365_")},
           "W365_DATAVERSE_URL": local_dataverse.url, "W365_DATAVERSE_TOKEN": "local-dev-token",
           "W365_API_AUTH": "keys", "W365_API_KEYS": "api-key", "W365_WEBHOOK_KEYS": WEBHOOK_KEYS[0]}
    serve = subprocess.Popen([str(BIN / "w365"), "serve", "--port", str(port)], cwd=ROOT, env=env,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert wait_until_serving(f"http://127.0.0.1:{port}/api/v1/health")
        payload = execution_context("w365_GenerateInvoice", [{"key": "BillingContractId", "value": contract}],
                                    initiating_user_id=world.billing_user["systemuserid"])
        response = requests.post(f"http://127.0.0.1:{port}/api/v1/webhooks/dataverse?code={WEBHOOK_KEYS[0]}",
                                 data=json.dumps(payload), headers={"Content-Type": "application/json"}, timeout=60)
        assert response.status_code == 200, response.text
    finally:
        serve.send_signal(signal.SIGINT)
        out, err = serve.communicate(timeout=60)
    logged = out + err
    assert "POST /api/v1/webhooks/dataverse HTTP/1.1" in logged
    assert WEBHOOK_KEYS[0] not in logged and "code=" not in logged


def test_gunicorn_bounds_the_request_line_and_header_fields(local_dataverse):
    port = free_port()
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("W365_")}, "W365_API_AUTH": "keys",
           "W365_API_KEYS": "k", "W365_DATAVERSE_URL": local_dataverse.url, "W365_DATAVERSE_TOKEN": "local-dev-token"}
    server = subprocess.Popen([str(BIN / "gunicorn"), "-c", "gunicorn.conf.py", "--bind", f"127.0.0.1:{port}",
                               "--workers", "1"], cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        assert wait_until_serving(f"http://127.0.0.1:{port}/api/v1/health")
        assert requests.get(f"http://127.0.0.1:{port}/api/v1/health", timeout=10).status_code == 200
        long_line = requests.get(f"http://127.0.0.1:{port}/pages/bulk?ids={'a' * 9000}", timeout=10)
        assert long_line.status_code in (400, 414)
        big_header = requests.get(f"http://127.0.0.1:{port}/api/v1/health", headers={"X-Big": "b" * 17000},
                                  timeout=10)
        assert big_header.status_code in (400, 431)
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=30)
