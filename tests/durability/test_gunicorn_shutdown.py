"""gunicorn (`gunicorn -c gunicorn.conf.py`) stopped with SIGTERM mid-run, then started again.

The worker's `worker_exit` hook lets the run go on for the graceful time, then releases it; the
restarted service's sweep resumes it at once. No row is lost or invoiced twice.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

import pytest
import requests

from plugin.runs.lease import read_lease
from plugin.seed import seed
from tests.conftest import free_port, wait_until_serving
from tests.durability.test_kill_and_resume import assert_exactly_once

ROOT = Path(__file__).resolve().parents[2]
GUNICORN = Path(sys.executable).with_name("gunicorn")
ROWS = 1000


def start_gunicorn(dataverse_url: str, port: int) -> subprocess.Popen:
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("W365_")},
           "W365_DATAVERSE_URL": dataverse_url, "W365_DATAVERSE_TOKEN": "local-dev-token", "W365_API_AUTH": "dev",
           "W365_RUN_LEASE_S": "3", "W365_WORKERS": "1"}
    process = subprocess.Popen([str(GUNICORN), "-c", "gunicorn.conf.py", "--bind", f"127.0.0.1:{port}",
                                "--graceful-timeout", "6"], cwd=ROOT, env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    if wait_until_serving(f"http://127.0.0.1:{port}/api/v1/health"):
        return process
    process.kill()
    raise AssertionError("gunicorn did not start: " + process.stderr.read())


def progress(port: int, run_id: str) -> dict:
    return requests.get(f"http://127.0.0.1:{port}/api/v1/invoice-runs/{run_id}", timeout=30).json()


def test_sigterm_mid_run_then_restart_completes_it(local_dataverse, dataverse_client):
    ids = seed(dataverse_client, contracts=ROWS, today=date(2026, 2, 1))["contract_ids"][:ROWS]
    port = free_port()
    local_dataverse.set_faults(latency_ms=300)  # a chunk takes longer than the 1 s left after SIGTERM
    first = start_gunicorn(local_dataverse.url, port)
    try:
        rows = [{"billing_contract_id": c, "trigger_post_invoicing_tasks": False} for c in ids]
        started = requests.post(f"http://127.0.0.1:{port}/api/v1/invoice-runs", json={"rows": rows}, timeout=30)
        assert started.status_code == 202, started.text
        run_id = started.json()["run_id"]
        while progress(port, run_id)["progress"]["done"] == 0:
            time.sleep(0.2)
        first.send_signal(signal.SIGTERM)  # after the first chunk of 250: three more to go
        assert first.wait(timeout=30) == 0
    finally:
        if first.poll() is None:
            first.kill()
        local_dataverse.set_faults(latency_ms=0)
    stopped = read_lease(dataverse_client, run_id)
    assert not stopped.owner  # released on the way out, whether the run finished or not
    if not stopped.running:
        pytest.fail("the run finished within the graceful time: raise the latency so the resume is tested")

    second = start_gunicorn(local_dataverse.url, port)
    try:
        deadline = time.monotonic() + 90
        body = progress(port, run_id)
        while body["status"] == "running" and time.monotonic() < deadline:
            time.sleep(0.5)
            body = progress(port, run_id)
        assert body["status"] != "running", body["progress"]
    finally:
        second.send_signal(signal.SIGTERM)
        second.wait(timeout=30)
    from plugin.runs.store import find_run
    from plugin.runs.view import load_view

    assert_exactly_once(dataverse_client, run_id, load_view(dataverse_client, find_run(dataverse_client, run_id)))
