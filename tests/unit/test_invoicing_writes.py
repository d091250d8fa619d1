"""plugin.invoicing.writes: what one invoice change set holds, and how a failed one is read (DESIGN §5, §4.7)."""
from __future__ import annotations

import uuid
from datetime import date

import pytest
from requests.structures import CaseInsensitiveDict

from connectors.dataverse import Batch, ChangesetResult, PartResponse
from connectors.dataverse.errors import PrivilegeError, PreconditionFailedError
from plugin.engine import ScheduleStatus, build_invoice
from plugin.invoicing.writes import (MODE_SINGLE, RUN_COMPLETED, add_invoice_changeset, add_schedule_failure,
                                     interpret_failure, request_row, run_record)
from plugin.posttasks.model import TaskType
from plugin.posttasks.signing import row_signature
from tests.engine import builders as b

AS_OF = date(2026, 2, 1)


def gid() -> str:
    return str(uuid.uuid4())


def contract_data(schedule=None, nri=False, one_time=False):
    c = b.contract(id=gid(), account_id=gid(), months=3, currency=b.Currency(gid(), "USD", 2),
                   type=b.ContractType.ITEM_BASED if one_time else b.ContractType.RECURRING)
    s = b.sub(id=gid())
    lcls = [b.lcl(s, "2026-01-01", 10, id=gid()), b.lcl(s, "2026-02-15", 4, id=gid())]
    nris = [b.nri("2026-01-10", id=gid(), etag='W/"7"')] if nri or one_time else []
    return b.data(c, subs=[s], lcls=lcls, nris=nris, schedules=[schedule] if schedule else [])


def operations(batch):
    return [op for changeset in batch.changesets for op in changeset.operations]


def ops_of(batch):
    return [(op.method, op.path.split("(")[0], op.headers.get("If-Match") or op.headers.get("If-None-Match"))
            for op in operations(batch)]


def test_new_cycle_changeset_order_and_preconditions():
    data = contract_data(nri=True)
    draft = build_invoice(data, "2026-01-01", AS_OF)
    batch = Batch()
    run = run_record(run_key="k", mode=MODE_SINGLE, source="api", rows=[request_row(data.contract.id, None)],
                     status=RUN_COMPLETED, counts=(1, 0, 0), run_id=gid())
    plan = add_invoice_changeset(batch, draft, run=run, row_index=0, correlation_id="corr")
    assert len(batch.changesets) == 1
    assert ops_of(batch) == [
        ("POST", "w365_invoiceruns", None),
        ("PATCH", "w365_billingschedules", "*"),          # If-None-Match: * (created by alternate key)
        ("POST", "invoices", None),
        ("PATCH", "w365_billingschedules", "*"),          # link the invoice
        ("PATCH", "w365_licensechangelogs", "*"), ("PATCH", "w365_licensechangelogs", "*"),
        ("PATCH", "w365_nonrecurringitems", 'W/"7"'),    # NRIs guarded by the ETag read
        ("POST", "w365_invoicerunitems", None),
    ]
    first_schedule = list(operations(batch))[1]
    assert first_schedule.headers == {"If-None-Match": "*"}
    assert first_schedule.body["statuscode"] == 3 and "w365_Invoice@odata.bind" not in first_schedule.body
    invoice = list(operations(batch))[2]
    assert invoice.body["w365_BillingSchedule@odata.bind"] == "$2" and invoice.body["w365_InvoiceRun@odata.bind"] == "$1"
    assert invoice.body["w365_posttasksrequested"] is False and len(invoice.body["invoice_details"]) == 3
    item = list(operations(batch))[-1].body
    assert item["w365_Invoice@odata.bind"] == "$3" and item["w365_result"] == 1 and item["w365_correlationid"] == "corr"
    assert plan.roles == {"1": "run", "2": "schedule", "3": "invoice", "4": "schedule_link", "5": "source",
                          "6": "source", "7": "nri", "8": "run_item"}


def test_existing_schedule_is_updated_with_its_etag_and_post_tasks_are_queued_when_asked():
    schedule = b.schedule("2026-01-01", status=ScheduleStatus.INVOICED, id=gid(), invoice_id=gid(), etag='W/"42"')
    draft = build_invoice(contract_data(schedule), "2026-01-01", AS_OF)
    run_id = gid()
    batch = Batch()
    add_invoice_changeset(batch, draft, run=run_id, row_index=3, post_task_types=(TaskType.SEND, TaskType.SYNC),
                          trigger_post_tasks=True, signing_key="k")
    assert ops_of(batch)[:2] == [("POST", "invoices", None), ("PATCH", "w365_billingschedules", 'W/"42"')]
    assert [o for o in ops_of(batch) if o[1] == "w365_postinvoicetasks"] == [
        ("POST", "w365_postinvoicetasks", None)] * 2
    bodies = [op.body for op in operations(batch)]
    assert bodies[0]["w365_InvoiceRun@odata.bind"] == f"/w365_invoiceruns({run_id})"
    assert bodies[0]["w365_posttasksrequested"] is True
    assert [t["w365_tasktype"] for t in bodies if "w365_tasktype" in t] == [1, 2]
    # the invoice's id is assigned here so that each task row's signature can name it
    invoice_id = bodies[0]["invoiceid"]
    for task in (t for t in bodies if "w365_tasktype" in t):
        assert task["w365_signature"] == row_signature("k", task["w365_postinvoicetaskid"], invoice_id,
                                                       task["w365_tasktype"])
    with pytest.raises(ValueError):
        add_invoice_changeset(Batch(), draft, run=run_id, row_index=4, post_task_types=(TaskType.SEND,))


def test_one_time_invoice_writes_no_schedule():
    draft = build_invoice(contract_data(one_time=True), "one-time", AS_OF)
    batch = Batch()
    add_invoice_changeset(batch, draft, run=gid(), row_index=0)
    assert [o[1] for o in ops_of(batch)] == ["invoices", "w365_nonrecurringitems", "w365_invoicerunitems"]
    failure = Batch()
    add_schedule_failure(failure, contract=draft.contract, option=draft.option, message="m", correlation_id="c")
    assert len(failure) == 0


def _failed(content_id, error):
    part = PartResponse(status=error.status, headers=CaseInsensitiveDict(), content_id=content_id, error=error)
    return ChangesetResult(tag=None, ok=False, error=error, parts=[part])


def test_interpret_privilege_and_replay_without_rereading():
    draft = build_invoice(contract_data(), "2026-01-01", AS_OF)
    batch = Batch()
    plan = add_invoice_changeset(batch, draft, run=gid(), row_index=0)
    denied = interpret_failure(None, plan, _failed("2", PrivilegeError("missing prvCreateInvoice", status=403)))
    assert denied.status == "failed" and denied.privilege_error and "privilege" in denied.message
    item_ref = next(k for k, v in plan.roles.items() if v == "run_item")
    replay = interpret_failure(None, plan, _failed(item_ref, PreconditionFailedError("exists", status=412)))
    assert replay.replayed and replay.status == "failed"


def test_schedule_failure_by_status():
    data = contract_data()
    option = build_invoice(data, "2026-01-01", AS_OF).option
    batch = Batch()
    add_schedule_failure(batch, contract=data.contract, option=option, message="boom", correlation_id="c1")
    (op,) = operations(batch)
    assert op.headers == {"If-None-Match": "*"} and (op.body["statecode"], op.body["statuscode"]) == (0, 2)
    invoiced = b.schedule("2026-01-01", status=ScheduleStatus.INVOICED, id=gid(), etag='W/"1"')
    option = build_invoice(contract_data(invoiced), "2026-01-01", AS_OF).option
    batch = Batch()
    add_schedule_failure(batch, contract=data.contract, option=option, message="boom", correlation_id="c1")
    (op,) = operations(batch)
    assert op.body == {"w365_message": "boom", "w365_correlationid": "c1"}
    errored = b.schedule("2026-01-01", status=ScheduleStatus.ERROR, id=gid(), etag='W/"9"')
    option = build_invoice(contract_data(errored), "2026-01-01", AS_OF).option
    batch = Batch()
    add_schedule_failure(batch, contract=data.contract, option=option, message="boom", correlation_id="c1")
    (op,) = operations(batch)
    assert op.headers == {"If-Match": 'W/"9"'} and op.body["statuscode"] == 2
