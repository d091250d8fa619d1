"""`w365 serve`: the plugin against the configured Dataverse; dev auth stays on loopback."""
from __future__ import annotations

import os
import signal
import subprocess

import requests
from click.testing import CliRunner

from plugin.cli import main
from tests import factories
from tests.browser.conftest import W365
from tests.conftest import free_port


def test_dev_auth_refuses_a_non_loopback_host(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)  # no .env from the working tree
    monkeypatch.setenv("W365_API_AUTH", "dev")
    result = CliRunner().invoke(main, ["serve", "--host", "0.0.0.0", "--port", "0"])
    assert result.exit_code != 0
    assert "loopback" in result.output and "0.0.0.0" in result.output


def test_serve_runs_the_plugin_against_the_configured_dataverse(local_dataverse, dataverse_client,
                                                                tmp_path):
    world = factories.make_world(dataverse_client)
    contract_id = factories.license_contract(dataverse_client, world,
                                             name="Served Contract")["contract_id"]
    port = free_port()
    env = {**os.environ, "W365_DATAVERSE_URL": local_dataverse.url,
           "W365_DATAVERSE_TOKEN": "local-dev-token", "W365_API_AUTH": "dev"}
    process = subprocess.Popen([str(W365), "serve", "--port", str(port)], cwd=tmp_path, env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        banner = process.stdout.readline()
        assert f"http://127.0.0.1:{port}/" in banner, banner
        base = f"http://127.0.0.1:{port}"
        dialog = requests.get(f"{base}/pages/generate?id={contract_id}", timeout=10)
        assert dialog.status_code == 200
        cycles = requests.get(f"{base}/api/v1/billing-contracts/{contract_id}/cycles", timeout=30)
        assert cycles.json()["header"]["name"] == "Served Contract"
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=20) == 0
        assert "Stopped." in process.stdout.read()
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=10)
