"""Bulk runs when Dataverse throttles, fails and drops connections (DESIGN §5, §13): nothing is lost.

The audit reads Dataverse through the connector: the run's invoices are exactly the rows reported
created, each (contract, cycle) is invoiced at most once, every invoice has its lines, its schedule
link and its run item, and nothing is consumed by an invoice that does not exist.
"""
from __future__ import annotations

import uuid
from datetime import date

import pytest

from connectors.dataverse import DataverseClient, odata
from connectors.dataverse.errors import DataverseError, ServiceUnavailableError
from plugin.config import Config
from plugin.runs.model import RunRequest, RunRow
from plugin.runs.service import RunService
from plugin.seed import seed
from tests.conftest import make_client

TODAY = date(2026, 2, 1)
FAULTS = dict(rate_429=0.15, rate_503=0.1, rate_reset=0.1, retry_after_s=0)


@pytest.fixture(scope="module")
def seeded(dataverse_client) -> list[str]:
    return seed(dataverse_client, contracts=200, seed=2026, today=TODAY)["contract_ids"]


def fast_retrying_service(dv, **config) -> RunService:
    client = make_client(dv, backoff_base_s=0.02, backoff_cap_s=0.2)
    return RunService(client, Config(**config))


def start_despite_faults(service: RunService, request: RunRequest) -> str:
    """Start the run; opening it is idempotent on its key, so a start that failed is simply repeated."""
    for _ in range(20):
        try:
            return service.start(request, background=False)
        except DataverseError:
            continue
    raise AssertionError("the run could not be opened")


def audit(client, run_id: str, reported_created: set[str]) -> None:
    invoices = {i["invoiceid"]: i for i in client.query(
        "invoices", select=["invoiceid", "_w365_billingcontract_value", "w365_cyclestart", "w365_category",
                            "_w365_billingschedule_value"],
        filter=odata.eq("_w365_invoicerun_value", run_id))}
    assert set(invoices) == reported_created
    keys = [(i["_w365_billingcontract_value"], i["w365_cyclestart"], i["w365_category"]) for i in invoices.values()]
    assert len(keys) == len(set(keys)), "a (contract, cycle) was invoiced twice"

    lines = {l["_invoiceid_value"] for l in client.query_in("invoicedetails", "_invoiceid_value", list(invoices),
                                                             select=["_invoiceid_value"])}
    assert lines == set(invoices), "an invoice without lines"
    items = {i["_w365_invoice_value"] for i in client.query(
        "w365_invoicerunitems", select=["_w365_invoice_value", "w365_result"],
        filter=odata.and_(odata.eq("_w365_invoicerun_value", run_id), odata.eq("w365_result", 1)))}
    assert items == set(invoices), "an invoice without its run item"
    cycle_invoices = [i for i in invoices.values() if i["w365_category"] == 1]
    schedules = {s["w365_billingscheduleid"]: s for s in client.query_in(
        "w365_billingschedules", "w365_billingscheduleid", [i["_w365_billingschedule_value"] for i in cycle_invoices],
        select=["w365_billingscheduleid", "_w365_invoice_value", "statuscode"])}
    for invoice in cycle_invoices:
        schedule = schedules[invoice["_w365_billingschedule_value"]]
        assert (schedule["_w365_invoice_value"], schedule["statuscode"]) == (invoice["invoiceid"], 3)

    existing = {i["invoiceid"] for i in client.query("invoices", select=["invoiceid"])}
    for entity_set in ("w365_licensechangelogs", "w365_usagerecords", "w365_nonrecurringitems"):
        consumed = {r["_w365_invoice_value"] for r in client.query(
            entity_set, select=["_w365_invoice_value"], filter="_w365_invoice_value ne null")}
        assert consumed <= existing, f"{entity_set} consumed by a missing invoice"


def created_ids(view) -> set[str]:
    return {r.outcome.invoice["id"] for r in view.results if r.status == "created"}


def test_200_contracts_under_429_503_and_resets(local_dataverse, dataverse_client, seeded):
    service = fast_retrying_service(local_dataverse, bulk_retry_budget_s=120.0)
    request = RunRequest(rows=tuple(RunRow(i, cid, None, False) for i, cid in enumerate(seeded)),
                         as_of=TODAY, run_key=str(uuid.uuid4()))
    local_dataverse.reset_stats()
    local_dataverse.set_faults(**FAULTS)
    try:
        run_id = start_despite_faults(service, request)
    finally:
        local_dataverse.set_faults(rate_429=0, rate_503=0, rate_reset=0)
    stats = local_dataverse.stats()
    assert stats["faults_429"] + stats["faults_503"] + stats["resets"] > 0
    view = service.view(run_id)
    assert view.finished and view.counts()["pending"] == 0
    assert view.counts()["created"] > 150
    for result in view.results:
        assert result.status in ("created", "skipped") or result.outcome.message
    audit(dataverse_client, run_id, created_ids(view))
    service.close()


class FailingInvoiceBatches(DataverseClient):
    """The connector, except that every other `$batch` creating invoices fails outright, retries included."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.decisions: dict[int, bool] = {}

    def execute_batch(self, batch, *, continue_on_error=False):
        creates_invoices = any(op.method == "POST" and op.path == "invoices"
                               for cs in batch.changesets for op in cs.operations)
        if creates_invoices:
            fail = self.decisions.setdefault(id(batch), len(self.decisions) % 2 == 0)
            if fail:
                raise ServiceUnavailableError("injected: the $batch kept failing", status=503)
        return super().execute_batch(batch, continue_on_error=continue_on_error)


def test_batches_failing_outright_fail_their_rows_and_retry_recovers(local_dataverse, dataverse_client, seeded):
    provider = make_client(local_dataverse).token_provider
    flaky = FailingInvoiceBatches(local_dataverse.url, token_provider=provider)
    service = RunService(flaky, Config(bulk_concurrency=4))
    rows = tuple(RunRow(i, cid, None, False) for i, cid in enumerate(seeded[:120]))
    run_id = service.start(RunRequest(rows=rows, as_of=date(2026, 8, 1)), background=False)
    view = service.view(run_id)
    failed = [r for r in view.results if r.status == "failed"]
    assert view.finished and failed and view.counts()["created"] > 0
    assert all("injected: the $batch kept failing" in r.outcome.message for r in failed)
    audit(dataverse_client, run_id, created_ids(view))
    run = dataverse_client.get("w365_invoiceruns", run_id)
    assert (run["w365_status"], run["w365_failed"]) == (3, len(failed))

    healthy = RunService(make_client(local_dataverse), Config())
    healthy.retry(run_id, background=False)
    after = healthy.view(run_id)
    assert after.counts()["failed"] == 0 and after.counts()["pending"] == 0
    assert created_ids(view) <= created_ids(after)
    audit(dataverse_client, run_id, created_ids(after))
    service.close()
    healthy.close()
