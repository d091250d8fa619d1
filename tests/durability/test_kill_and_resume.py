"""A run outlives the process executing it: `kill -9` mid-run, another process takes it over.

The executing process is a real subprocess killed with SIGKILL at about half of a 400-row run; a
second run service (another "process") finds the expired lease, takes the run over and completes it.
No row is lost, none is invoiced twice: the invoices in Dataverse are exactly the rows reported Created.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter
from datetime import date
from pathlib import Path

import pytest

from connectors.dataverse import odata
from plugin.config import Config
from plugin.runs.lease import read_lease
from plugin.runs.store import find_run, find_run_by_key
from plugin.runs.view import load_view
from plugin.runs.service import RunService
from plugin.seed import seed
from tests.conftest import free_port

ROOT = Path(__file__).resolve().parents[2]
LEASE_S = 3.0
ROWS = 400


@pytest.fixture(scope="module")
def contract_ids(dataverse_client):
    return seed(dataverse_client, contracts=ROWS, today=date(2026, 2, 1))["contract_ids"][:ROWS]


def start_run_process(url: str, run_key: str, ids_file: Path) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "tests.durability.run_process", url, run_key, str(ids_file),
                             str(LEASE_S), "20"], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"})


def kill_at(process: subprocess.Popen, done_at_least: int) -> int:
    """SIGKILL the process once it reports `done_at_least` rows; the count it had reached."""
    for line in process.stdout:
        if line.startswith("done ") and int(line.split()[1]) >= done_at_least:
            process.send_signal(signal.SIGKILL)
            process.wait(timeout=10)
            return int(line.split()[1])
    raise AssertionError("the run ended before the kill: " + process.stderr.read())


def assert_exactly_once(client, run_id: str, view) -> None:
    """Every row answered, none failed, invoices = rows Created, no (contract, cycle) invoiced twice."""
    statuses = Counter(result.status for result in view.results)
    assert statuses["pending"] == 0 and statuses["failed"] == 0, statuses
    invoices = list(client.query("invoices", select=["invoiceid", "_w365_billingcontract_value", "w365_cyclestart"],
                                 filter=odata.eq("_w365_invoicerun_value", run_id)))
    assert len(invoices) == statuses["created"]
    pairs = Counter((i["_w365_billingcontract_value"], i["w365_cyclestart"]) for i in invoices)
    assert max(pairs.values()) == 1
    created_ids = {str(r.outcome.invoice["id"]).lower() for r in view.results if r.status == "created"}
    assert created_ids == {str(i["invoiceid"]).lower() for i in invoices}


def test_kill_9_at_half_then_another_process_completes_the_run(local_dataverse, dataverse_client, contract_ids,
                                                              tmp_path):
    ids_file = tmp_path / "ids.txt"
    ids_file.write_text("\n".join(contract_ids))
    run_key = f"kill-{uuid.uuid4()}"
    local_dataverse.set_faults(latency_ms=15)
    try:
        process = start_run_process(local_dataverse.url, run_key, ids_file)
        reached = kill_at(process, ROWS // 2)
    finally:
        local_dataverse.set_faults(latency_ms=0)
    record = find_run_by_key(dataverse_client, run_key)
    assert record is not None and record.status == 1  # still Running: its process is gone
    lease = read_lease(dataverse_client, record.run_id)
    assert lease.owner and lease.owner.endswith(f":{process.pid}")

    # a new process of the service (`w365 serve`) sweeps at start and every lease: it takes the run over
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("W365_")},
           "W365_DATAVERSE_URL": local_dataverse.url, "W365_DATAVERSE_TOKEN": "local-dev-token",
           "W365_RUN_LEASE_S": str(LEASE_S)}
    killed_at = time.monotonic()
    survivor = subprocess.Popen([str(Path(sys.executable).with_name("w365")), "serve", "--port", str(free_port())],
                                cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        while read_lease(dataverse_client, record.run_id).running and time.monotonic() - killed_at < LEASE_S + 60:
            time.sleep(0.3)
        assert not read_lease(dataverse_client, record.run_id).running, \
            f"not finished {LEASE_S + 60} s after the kill (killed at {reached} rows)"
    finally:
        survivor.send_signal(signal.SIGINT)
        _, errors = survivor.communicate(timeout=60)
    assert "resuming it here" in errors  # the new process is the one that took it over
    view = load_view(dataverse_client, find_run(dataverse_client, record.run_id))
    assert_exactly_once(dataverse_client, record.run_id, view)
    final = read_lease(dataverse_client, record.run_id)
    assert not final.running and not final.owner  # finished and released


def test_a_reader_of_a_dead_run_takes_it_over_instead_of_saying_running(local_dataverse, dataverse_client,
                                                                      contract_ids, tmp_path):
    ids_file = tmp_path / "ids.txt"
    ids_file.write_text("\n".join(contract_ids[:120]))
    run_key = f"read-{uuid.uuid4()}"
    process = start_run_process(local_dataverse.url, run_key, ids_file)
    kill_at(process, 40)
    record = find_run_by_key(dataverse_client, run_key)
    time.sleep(LEASE_S + 0.5)
    reader = RunService(dataverse_client, Config(run_lease_s=LEASE_S), owner="reader:1")
    try:
        first = reader.view(record.run_id)  # taking over, not "running" forever
        assert read_lease(dataverse_client, record.run_id).owner == "reader:1"
        view = reader.wait(record.run_id, 60)
        assert first is not None and view.finished
    finally:
        reader.close()
    assert_exactly_once(dataverse_client, record.run_id, view)
