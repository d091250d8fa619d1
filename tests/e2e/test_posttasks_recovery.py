"""Post-invoicing tasks left Queued by a stopped process are swept up, claimed once, and finished (DESIGN §6)."""
from __future__ import annotations

import threading
import time
from pathlib import Path

from connectors.dataverse import odata
from plugin.api.runs import app_runs, close_runs
from plugin.app import create_app
from plugin.runs.model import RunRequest, RunRow
from plugin.runs.service import RunService
from plugin.posttasks import PostTaskWorker
from plugin.posttasks.handlers import NO_PAYMENT_PROCESSOR, TaskSettings
from tests import factories
from tests.conftest import make_client

SEND, SYNC, CHARGE = 1, 2, 3
QUEUED, SUCCEEDED, FAILED, SKIPPED = 1, 2, 3, 4


class LostQueue(PostTaskWorker):
    """A worker whose process stops before it runs anything: the run's tasks stay Queued."""

    def submit(self, invoice_ids, on_final=None, client=None) -> None:
        pass


def strand_tasks(local_dataverse, config, dataverse_client, world, contracts: int = 1) -> list[dict]:
    """Invoices made by a bulk run with every post task requested, whose worker never ran them."""
    ids = [factories.license_contract(dataverse_client, world, autosend=True, autosync=True,
                                      autocharge=True)["contract_id"] for _ in range(contracts)]
    client = make_client(local_dataverse)
    service = RunService(client, config, worker=LostQueue(client, TaskSettings.from_config(config)))
    run_id = service.start(RunRequest(rows=tuple(RunRow(i, c, None, True) for i, c in enumerate(ids))),
                           background=False)
    results = service.view(run_id).results
    service.close()
    assert [r.status for r in results] == ["created"] * contracts
    return [r.outcome.invoice for r in results]


def tasks_of(client, invoices: list[dict]) -> dict[tuple[str, int], dict]:
    """(invoice number, task type) -> the task row."""
    numbers = {i["id"]: i["number"] for i in invoices}
    rows = client.query_in("w365_postinvoicetasks", "_w365_invoice_value", list(numbers))
    return {(numbers[t["_w365_invoice_value"]], t["w365_tasktype"]): t for t in rows}


def queued_left(client) -> int:
    return sum(1 for _ in client.query("w365_postinvoicetasks", select=["w365_postinvoicetaskid"],
                                       filter=odata.eq("w365_status", QUEUED)))


def outbox(*folders: Path) -> list[str]:
    return sorted(p.name for folder in folders if folder.exists() for p in folder.iterdir())


def assert_finished_once(client, invoices: list[dict], *folders: Path) -> None:
    tasks = tasks_of(client, invoices)
    for invoice in invoices:
        number = invoice["number"]
        send, sync, charge = (tasks[number, t] for t in (SEND, SYNC, CHARGE))
        assert (send["w365_status"], sync["w365_status"]) == (SUCCEEDED, SUCCEEDED)
        assert send["w365_message"].startswith("no SMTP configured: written to the outbox as INV-")
        assert send["w365_message"].endswith(f"{number}.send.eml")
        assert sync["w365_message"].startswith("no accounting webhook configured: written to the outbox as INV-")
        assert (charge["w365_status"], charge["w365_message"]) == (SKIPPED, NO_PAYMENT_PROCESSOR)
    assert all(t["w365_attempts"] == 1 and t["w365_completedon"] for t in tasks.values())
    # exactly one file per Send/Sync task, wherever it was written
    assert outbox(*folders) == sorted(f"{i['number']}.{kind}" for i in invoices
                                      for kind in ("send.eml", "sync.json"))


def test_a_serving_app_sweeps_up_stranded_tasks_and_stops_with_its_worker(
        local_dataverse, plugin_config, dataverse_client, world, tmp_path):
    config = plugin_config.with_overrides(outbox_dir=str(tmp_path), task_recovery_interval_s=0.2,
                                          task_recovery_grace_s=0)
    app = create_app(config, dataverse=make_client(local_dataverse))
    app_runs(app)  # first use of the run service: the sweeper starts (and finds nothing yet)
    assert [t.name for t in threading.enumerate()].count("w365-posttask-recovery") == 1

    invoices = strand_tasks(local_dataverse, config, dataverse_client, world, contracts=2)
    deadline = time.monotonic() + 10
    while queued_left(dataverse_client) and time.monotonic() < deadline:
        time.sleep(0.1)  # a later periodic sweep finds them
    assert close_runs(app)
    assert_finished_once(dataverse_client, invoices, tmp_path)
    assert "w365-posttask-recovery" not in [t.name for t in threading.enumerate()]


def test_two_sweeping_workers_run_each_task_exactly_once(local_dataverse, plugin_config, dataverse_client,
                                                         world, tmp_path):
    invoices = strand_tasks(local_dataverse, plugin_config, dataverse_client, world, contracts=3)
    claims_meet = threading.Barrier(2)
    workers = []
    for name in ("a", "b"):
        client = make_client(local_dataverse)
        send_batch = client.execute_batch
        first = [True]

        def execute_batch(batch, *, _send=send_batch, _first=first, **options):
            if _first:  # both claim batches go out only once both workers have read the same rows
                _first.clear()
                claims_meet.wait(timeout=10)
            return _send(batch, **options)

        client.execute_batch = execute_batch
        settings = TaskSettings.from_config(plugin_config.with_overrides(outbox_dir=str(tmp_path / name)))
        workers.append(PostTaskWorker(client, settings))

    assert [w.recover(grace_s=0) for w in workers] == [9, 9]  # both saw every stranded task
    for worker in workers:
        assert worker.wait_idle(10)
        worker.shutdown()
    assert queued_left(dataverse_client) == 0
    assert_finished_once(dataverse_client, invoices, tmp_path / "a", tmp_path / "b")


def test_a_recent_task_is_left_alone_and_an_exhausted_one_fails(local_dataverse, plugin_config,
                                                                dataverse_client, world, tmp_path):
    invoices = strand_tasks(local_dataverse, plugin_config, dataverse_client, world)
    worker = PostTaskWorker(make_client(local_dataverse),
                            TaskSettings.from_config(plugin_config.with_overrides(outbox_dir=str(tmp_path))))
    # within the grace period a task may belong to a healthy process about to run it
    assert worker.recover(grace_s=3600) == 0
    tasks = tasks_of(dataverse_client, invoices)
    assert {(t["w365_status"], t["w365_attempts"]) for t in tasks.values()} == {(QUEUED, 0)}

    # the Send task was attempted 4 times (the limit) by processes that stopped before recording it
    number = invoices[0]["number"]
    dataverse_client.update("w365_postinvoicetasks", tasks[number, SEND]["w365_postinvoicetaskid"],
                            {"w365_attempts": 4})
    assert worker.recover(grace_s=0) == 3
    assert worker.wait_idle(10)
    worker.shutdown()
    tasks = tasks_of(dataverse_client, invoices)
    send = tasks[number, SEND]
    assert (send["w365_status"], send["w365_attempts"]) == (FAILED, 4)
    assert send["w365_message"] == "gave up after 4 attempts: interrupted before it could finish"
    assert tasks[number, SYNC]["w365_status"] == SUCCEEDED
    assert tasks[number, CHARGE]["w365_message"] == NO_PAYMENT_PROCESSOR
    assert outbox(tmp_path) == [f"{number}.sync.json"]


def test_tasks_held_by_a_live_worker_are_not_swept_and_a_stolen_task_runs_once(
        local_dataverse, plugin_config, dataverse_client, world, tmp_path):
    invoices = strand_tasks(local_dataverse, plugin_config, dataverse_client, world)
    reached, release = threading.Event(), threading.Event()
    slow_client = make_client(local_dataverse)
    send_batch = slow_client.execute_batch

    def claim_late(batch, **options):
        if not release.is_set():  # the claim of the run's own group waits until told
            reached.set()
            assert release.wait(10)
        return send_batch(batch, **options)

    slow_client.execute_batch = claim_late
    settings = {name: TaskSettings.from_config(plugin_config.with_overrides(outbox_dir=str(tmp_path / name)))
                for name in ("slow", "other")}
    slow = PostTaskWorker(slow_client, settings["slow"])
    other = PostTaskWorker(make_client(local_dataverse), settings["other"])
    slow.submit([invoices[0]["id"]])  # as a run does: the group reads its Queued tasks, then claims
    assert reached.wait(10)
    assert slow.recover(grace_s=0) == 0  # its own group holds them
    assert other.recover(grace_s=0) == 3  # another process, past the grace period, takes them
    assert other.wait_idle(10)
    release.set()  # the slow group's claim now answers 412: it runs nothing
    assert slow.wait_idle(10)
    for worker in (slow, other):
        worker.shutdown()
    assert_finished_once(dataverse_client, invoices, tmp_path / "slow", tmp_path / "other")
    assert outbox(tmp_path / "slow") == []


def test_task_rows_made_by_hand_are_set_failed_and_never_run(local_dataverse, plugin_config, dataverse_client,
                                                             world, tmp_path):
    invoices = strand_tasks(local_dataverse, plugin_config, dataverse_client, world)  # signed, by the service
    forged = [dataverse_client.create("w365_postinvoicetasks", {
        "w365_Invoice@odata.bind": f"/invoices({invoices[0]['id']})", "w365_tasktype": task_type,
        "w365_status": QUEUED, "w365_attempts": 0, **extra})
        for task_type, extra in ((SEND, {}), (SYNC, {}), (CHARGE, {}), (SEND, {"w365_signature": "0" * 64}))]
    config = plugin_config.with_overrides(outbox_dir=str(tmp_path))
    worker = PostTaskWorker(make_client(local_dataverse), TaskSettings.from_config(config))
    worker.recover(grace_s=0)
    assert worker.wait_idle(60)
    worker.shutdown()
    for task_id in forged:
        row = dataverse_client.get("w365_postinvoicetasks", task_id)
        assert (row["w365_status"], row["w365_message"]) == (FAILED, "not created by this service")
        assert not row["w365_attempts"]  # never claimed, never attempted
    signed = [t for t in dataverse_client.query_in("w365_postinvoicetasks", "_w365_invoice_value", [invoices[0]["id"]])
              if t["w365_postinvoicetaskid"] not in forged]
    assert sorted((t["w365_tasktype"], t["w365_status"]) for t in signed) == [(SEND, SUCCEEDED), (SYNC, SUCCEEDED),
                                                                             (CHARGE, SKIPPED)]
    number = invoices[0]["number"]
    assert outbox(tmp_path) == [f"{number}.send.eml", f"{number}.sync.json"]  # the signed rows ran, once each
