"""The distributed engine: a real Redis, two real `w365 worker` processes, one killed with SIGKILL.

The web app only opens the run and queues it; the workers execute it a chunk per task. The worker
holding the run is killed at about 40 %; the other one takes the run over once its lease expires and
completes it. Invoices in Dataverse are exactly the rows reported Created.
"""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

import pytest

from plugin.app import create_app
from plugin.config import Config
from plugin.runs.lease import HANDOFF, read_lease
from plugin.runs.store import find_run
from plugin.runs.view import load_view
from plugin.seed import seed
from tests.conftest import free_port
from tests.durability.test_kill_and_resume import assert_exactly_once

ROOT = Path(__file__).resolve().parents[2]
W365 = Path(sys.executable).with_name("w365")
ROWS = 400
LEASE_S = 3


@pytest.fixture(scope="module")
def redis_url():
    """A real redis-server on a free loopback port (Debian's package, installed by scripts/setup.sh)."""
    server = shutil.which("redis-server")
    if server is None:
        pytest.fail("redis-server is missing: scripts/setup.sh installs it")
    port = free_port()
    process = subprocess.Popen([server, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly",
                                "no"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        import redis

        client = redis.Redis(port=port)
        for _ in range(100):
            try:
                client.ping()
                break
            except redis.ConnectionError:
                time.sleep(0.05)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        process.terminate()
        process.wait(timeout=10)


def start_worker(dataverse_url: str, broker: str) -> subprocess.Popen:
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("W365_")},
           "W365_DATAVERSE_URL": dataverse_url, "W365_DATAVERSE_TOKEN": "local-dev-token",
           "W365_BROKER_URL": broker, "W365_RUN_LEASE_S": str(LEASE_S), "W365_RUN_CHUNK_ROWS": "40"}
    return subprocess.Popen([str(W365), "worker", "--concurrency", "2"], cwd=ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def test_two_workers_one_killed_at_40_percent_the_other_completes(local_dataverse, dataverse_client, redis_url,
                                                                  tmp_path):
    ids = seed(dataverse_client, contracts=ROWS, today=date(2026, 2, 1))["contract_ids"][:ROWS]
    workers = [start_worker(local_dataverse.url, redis_url) for _ in range(2)]
    config = Config(dataverse_url=local_dataverse.url, broker_url=redis_url, run_lease_s=LEASE_S,
                    outbox_dir=str(tmp_path))
    web = create_app(config, dataverse=dataverse_client).test_client()
    local_dataverse.set_faults(latency_ms=20)
    try:
        rows = [{"billing_contract_id": c, "trigger_post_invoicing_tasks": False} for c in ids]
        started = web.post("/api/v1/invoice-runs", json={"rows": rows})
        assert started.status_code == 202, started.get_json()
        run_id = started.get_json()["run_id"]
        assert web.get(f"/api/v1/invoice-runs/{run_id}").get_json()["status"] == "running"

        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            lease = read_lease(dataverse_client, run_id)
            done = web.get(f"/api/v1/invoice-runs/{run_id}").get_json()["progress"]["done"]
            if done >= ROWS * 0.4 and lease.owner and lease.owner != HANDOFF:
                break
            time.sleep(0.05)
        else:
            pytest.fail("the workers did not reach 40 %")
        victim = next(w for w in workers if lease.owner.endswith(f":{w.pid}"))
        victim.send_signal(signal.SIGKILL)
        victim.wait(timeout=10)
        local_dataverse.set_faults(latency_ms=0)

        deadline = time.monotonic() + LEASE_S + 60
        body = web.get(f"/api/v1/invoice-runs/{run_id}").get_json()
        while body["status"] == "running" and time.monotonic() < deadline:
            time.sleep(0.5)
            body = web.get(f"/api/v1/invoice-runs/{run_id}").get_json()
        assert body["status"] != "running", body["progress"]
        survivor = next(w for w in workers if w is not victim)
        assert survivor.poll() is None
    finally:
        local_dataverse.set_faults(latency_ms=0)
        for worker in workers:
            if worker.poll() is None:
                worker.send_signal(signal.SIGTERM)
        for worker in workers:
            try:
                worker.wait(timeout=30)
            except subprocess.TimeoutExpired:
                worker.kill()
    assert_exactly_once(dataverse_client, run_id, load_view(dataverse_client, find_run(dataverse_client, run_id)))


def test_a_broker_outage_loses_no_run(local_dataverse, dataverse_client, redis_url, tmp_path):
    from tests import factories

    world = factories.make_world(dataverse_client)
    contract = factories.license_contract(dataverse_client, world)["contract_id"]
    dead_broker = f"redis://127.0.0.1:{free_port()}/0"  # nobody listens there
    config = Config(dataverse_url=local_dataverse.url, broker_url=dead_broker, run_lease_s=LEASE_S,
                    outbox_dir=str(tmp_path))
    web = create_app(config, dataverse=dataverse_client).test_client()
    started = web.post("/api/v1/invoice-runs", json={
        "rows": [{"billing_contract_id": contract, "trigger_post_invoicing_tasks": False}]})
    assert started.status_code == 202, started.get_json()  # the run row is written; queueing failed
    run_id = started.get_json()["run_id"]
    worker = start_worker(local_dataverse.url, redis_url)  # a worker on a live broker sweeps it up
    try:
        deadline = time.monotonic() + LEASE_S + 60
        while read_lease(dataverse_client, run_id).running and time.monotonic() < deadline:
            time.sleep(0.3)
        assert not read_lease(dataverse_client, run_id).running
    finally:
        worker.send_signal(signal.SIGTERM)
        worker.wait(timeout=30)
    assert len(factories.invoices_of(dataverse_client, contract)) == 1
