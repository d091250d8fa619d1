"""The run engine itself (plugin.runs.service / run_rows): races, replays, repeats, chunks."""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import date

import pytest

from connectors.dataverse import Batch, odata
from plugin.config import Config
from plugin.invoicing.reads import load_contracts
from plugin.runs.model import RunRequest, RunRow
from plugin.runs.rows import ChunkWriter, plan_row
from plugin.runs.store import open_run, run_items
from plugin.runs.executor import chunks
from plugin.runs.service import RunService
from plugin.invoicing.writes import add_invoice_changeset
from tests import factories

AS_OF = date(2026, 2, 1)


@pytest.fixture(scope="module")
def service(dataverse_client):
    svc = RunService(dataverse_client, Config())
    yield svc
    svc.close()


@pytest.fixture(scope="module")
def pool():
    with ThreadPoolExecutor(2) as executor:
        yield executor


def one_row_run(client, contract_id: str, cycle: str | None = "2026-01-01") -> tuple[str, RunRow]:
    row = RunRow(0, contract_id, cycle, False)
    record, _ = open_run(client, RunRequest(rows=(row,)), {})
    return record.run_id, row


def stale_plan(client, contract_id: str, row: RunRow):
    loaded = next(load_contracts(client, [contract_id]))
    return plan_row(row, loaded, on_existing=None, as_of=AS_OF, cycle_range=2)


def test_a_cycle_invoiced_after_the_read_is_skipped_concurrently(dataverse_client, world, service, pool):
    contract = factories.license_contract(dataverse_client, world)["contract_id"]
    run_id, row = one_row_run(dataverse_client, contract)
    plan = stale_plan(dataverse_client, contract, row)            # status read: uninvoiced
    other = service.start(RunRequest(rows=(RunRow(0, contract, "2026-01-01", False),)), background=False)
    winner = service.view(other).results[0].outcome.invoice

    result = ChunkWriter(dataverse_client, pool, run_id, 2).write([plan])[0]
    assert result.status == "skipped"
    assert result.outcome.message == f"invoiced concurrently by {winner['number']}"
    assert [i["invoiceid"] for i in factories.invoices_of(dataverse_client, contract)] == [winner["id"]]
    assert [i["w365_result"] for i in run_items(dataverse_client, run_id)] == [2]


def test_a_replayed_change_set_that_had_succeeded_reports_created(dataverse_client, world, pool):
    contract = factories.license_contract(dataverse_client, world)["contract_id"]
    run_id, row = one_row_run(dataverse_client, contract)
    plan = stale_plan(dataverse_client, contract, row)
    batch = Batch()                           # the first delivery: written, but its answer was "lost"
    add_invoice_changeset(batch, plan.draft, run=run_id, row_index=0, correlation_id=plan.correlation_id)
    assert dataverse_client.execute_batch(batch).changesets[0].ok

    result = ChunkWriter(dataverse_client, pool, run_id, 2).write([plan])[0]
    invoices = factories.invoices_of(dataverse_client, contract)
    assert len(invoices) == 1
    assert result.status == "created" and result.outcome.invoice["id"] == invoices[0]["invoiceid"]
    assert result.outcome.invoice["number"] == invoices[0]["invoicenumber"]


def test_the_same_contract_twice_in_one_run(dataverse_client, world, service):
    ids = factories.license_contract(dataverse_client, world, frequency=1)
    contract = ids["contract_id"]
    factories.create_change_log(dataverse_client, ids["subscription_id"], contract, effective="2026-01-10", delta=2)
    rows = (RunRow(0, contract, None, False), RunRow(1, contract, None, False), RunRow(2, contract, "2026-02-01", False))
    view = service.view(service.start(RunRequest(rows=rows, as_of=AS_OF), background=False))
    # the second row means the default at the run's start, the cycle the first row invoiced: a duplicate
    assert [r.status for r in view.results] == ["created", "skipped", "created"]
    assert view.results[1].outcome.message == "duplicate of row 1"
    assert [r.outcome.cycle for r in view.results] == ["2026-01-01", "2026-01-01", "2026-02-01"]
    lcl = dataverse_client.query("w365_licensechangelogs", select=["_w365_invoice_value", "statuscode"],
                                 filter=odata.eq("_w365_billingcontract_value", contract))
    consumers = {row["_w365_invoice_value"] for row in lcl if row["statuscode"] == 2}
    assert consumers == {view.results[0].outcome.invoice["id"]}


def test_a_run_is_streamed_in_chunks(dataverse_client, world):
    ids = [factories.license_contract(dataverse_client, world)["contract_id"] for _ in range(7)]
    svc = RunService(dataverse_client, Config(), chunk_rows=3)
    seen: list[int] = []
    request = RunRequest(rows=tuple(RunRow(i, c, None, False) for i, c in enumerate(ids)), as_of=AS_OF)
    run_id = svc.start(request, background=False, on_progress=lambda done, total: seen.append(done))
    assert seen == [3, 6, 7]
    run = dataverse_client.get("w365_invoiceruns", run_id)
    assert (run["w365_status"], run["w365_total"], run["w365_created"]) == (2, 7, 7)
    svc.close()


def test_chunks_put_a_repeated_contract_in_a_later_pass():
    rows = [RunRow(i, c, None, False) for i, c in enumerate("abacdaa")]
    assert [(p, [r.index for r in chunk]) for p, chunk in chunks(rows, 2)] == [
        (0, [0, 1]), (0, [3, 4]), (1, [2]), (2, [5]), (3, [6])]


def test_another_process_follows_the_run_through_dataverse(local_dataverse, dataverse_client, world):
    ids = [factories.license_contract(dataverse_client, world)["contract_id"] for _ in range(3)]
    runner, reader = RunService(dataverse_client, Config()), RunService(dataverse_client, Config())
    local_dataverse.set_faults(latency_ms=150)
    try:
        run_id = runner.start(RunRequest(rows=tuple(RunRow(i, c, None, False) for i, c in enumerate(ids)),
                                         as_of=AS_OF))
        early = reader.view(run_id)
        final = reader.wait(run_id, 30)
    finally:
        local_dataverse.set_faults(latency_ms=0)
    assert early.run_id == run_id and len(early.rows) == 3
    assert final.finished and [r.status for r in final.results] == ["created"] * 3
    assert final.as_json()["rows"] == runner.view(run_id).as_json()["rows"]
    runner.close()
    reader.close()


def test_an_entra_caller_acts_by_object_id_and_is_the_initiating_user(dataverse_client, world, service):
    contract = factories.license_contract(dataverse_client, world)["contract_id"]
    billing = world.billing_user
    run_id = service.start(RunRequest(rows=(RunRow(0, contract, None, False),), as_of=AS_OF,
                                      caller_object_id=billing["azureactivedirectoryobjectid"]), background=False)
    assert service.view(run_id).results[0].status == "created"
    run = dataverse_client.get("w365_invoiceruns", run_id)
    assert run["_w365_initiatinguser_value"] == billing["systemuserid"]

    blocked = world.no_role_user
    run_id = service.start(RunRequest(rows=(RunRow(0, contract, "2026-04-01", False),), as_of=AS_OF,
                                      caller_object_id=blocked["azureactivedirectoryobjectid"]), background=False)
    result = service.view(run_id).results[0]
    assert result.status == "failed" and "privilege" in result.outcome.message


def test_close_lets_a_run_in_progress_finish(dataverse_client, local_dataverse, world):
    contracts = [factories.license_contract(dataverse_client, world)["contract_id"] for _ in range(12)]
    rows = tuple(RunRow(i, c, "2026-01-01", False) for i, c in enumerate(contracts))
    svc = RunService(dataverse_client, Config(), chunk_rows=3)
    local_dataverse.set_faults(latency_ms=20)
    try:
        run_id = svc.start(RunRequest(rows=rows, as_of=AS_OF))   # in the background
        svc.close()                                              # as Ctrl-C in `w365 serve` does
    finally:
        local_dataverse.set_faults(latency_ms=0)
    view = svc.view(run_id)
    assert view.finished
    assert [r.status for r in view.results] == ["created"] * 12
