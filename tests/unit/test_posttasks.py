"""Post-invoicing tasks without Dataverse: planning, documents, signatures, fallbacks and retries."""
from __future__ import annotations

import email
import json
from decimal import Decimal

import pytest

from plugin.posttasks import handlers
from plugin.posttasks.delivery import json_bytes, smtp_sender
from plugin.posttasks.documents import charge_request, invoice_document, invoice_email
from plugin.posttasks.handlers import TaskSettings, attempt
from plugin.posttasks.model import (
    InvoiceLine,
    TaskContext,
    TaskStatus,
    TaskType,
    TransientTaskError,
    planned_tasks,
    task_view,
)
from plugin.posttasks.signing import signature, verify

INVOICE = {
    "invoiceid": "0f9a4f3e-5f0e-4c55-9d1c-2d9a1e0b7c11", "invoicenumber": "INV-00042", "name": "Contoso Jan",
    "_customerid_value": "11111111-2222-3333-4444-555555555555", "w365_invoicedate": "2026-01-01",
    "duedate": "2026-01-31", "w365_cyclestart": "2026-01-01", "w365_cycleend": "2026-03-31",
    "totallineitemamount": Decimal("432.0000"), "discountamount": Decimal("0"), "totaltax": Decimal("43.2000"),
    "totalamount": Decimal("475.2000"),
}


def make_context(task_type: TaskType = TaskType.SEND, email_address: str | None = "ap@example.com") -> TaskContext:
    line = InvoiceLine(number=1, description="Microsoft 365 E3 <Jan>", quantity=Decimal("10"),
                       unit_price=Decimal("36.0000"), amount=Decimal("360.0000"), discount=Decimal("0"),
                       tax=Decimal("36.0000"), total=Decimal("396.0000"))
    return TaskContext(task_id="7d0c3c1e-0000-4000-8000-000000000001", task_type=task_type, attempts=0,
                       invoice=INVOICE, currency_code="USD", precision=2,
                       contract_id="9a8b7c6d-0000-4000-8000-000000000021", contract_name="Contoso & Co",
                       account_name="Contoso", contact_name="Alex AP", contact_email=email_address,
                       lines=(line,))


def settings(tmp_path, **overrides) -> TaskSettings:
    values = dict(smtp_url=None, outbox_dir=str(tmp_path), accounting_url=None, payment_url=None,
                  signing_key=None, timeout_s=2.0)
    values.update(overrides)
    return TaskSettings(**values)


def test_only_checked_rows_get_the_enabled_automations():
    contract = {"w365_autosend": True, "w365_autosync": False, "w365_autocharge": True}
    assert planned_tasks(contract, trigger=False) == []
    assert planned_tasks(contract, trigger=True) == [TaskType.SEND, TaskType.CHARGE]
    assert planned_tasks({"w365_autosync": None}, trigger=True) == []


def test_task_view_labels():
    assert task_view({"w365_tasktype": 3, "w365_status": 4, "w365_message": "x"}) == {
        "task": "charge", "status": "skipped", "message": "x"}


def test_invoice_document_carries_ids_and_money_at_precision():
    doc = invoice_document(make_context())
    assert doc["invoiceid"] == INVOICE["invoiceid"] and doc["invoicenumber"] == "INV-00042"
    assert doc["totals"] == {"subtotal": "432.00", "discount": "0.00", "tax": "43.20", "total": "475.20"}
    assert doc["lines"][0]["quantity"] == "10" and doc["lines"][0]["unit_price"] == "36.00"
    assert charge_request(make_context())["amount"] == "475.20"


def test_email_has_text_and_html_and_escapes():
    msg = invoice_email(make_context(), "billing@example.com")
    parsed = email.message_from_bytes(msg.as_bytes())
    assert parsed["To"] == "ap@example.com" and "INV-00042" in parsed["Subject"]
    kinds = {part.get_content_type(): part.get_payload(decode=True).decode() for part in parsed.walk()
             if not part.is_multipart()}
    assert set(kinds) == {"text/plain", "text/html"}
    assert "475.20" in kinds["text/plain"]
    assert "&lt;Jan&gt;" in kinds["text/html"] and "Contoso &amp; Co" in kinds["text/html"]


def test_signature_round_trip():
    body = json_bytes({"b": 1, "a": "x"})
    assert body == b'{"a":"x","b":1}'
    header = signature(body, "secret")
    assert header.startswith("sha256=") and len(header) == 7 + 64
    assert verify(body, "secret", header)
    assert not verify(body + b" ", "secret", header)
    assert not verify(body, "other", header)
    assert not verify(body, "secret", None)


def test_smtp_sender_from_url():
    assert smtp_sender("smtp://127.0.0.1:25?from=ar@contoso.example") == "ar@contoso.example"
    assert smtp_sender("smtp://bill%40contoso.example:pw@mail:587") == "bill@contoso.example"
    assert smtp_sender("smtp://127.0.0.1:25") == "invoices@w365.local"


def test_send_without_contact_email_fails(tmp_path):
    outcome = attempt(make_context(email_address=None), settings(tmp_path))
    assert outcome.status is TaskStatus.FAILED and outcome.message == "no primary billing contact email"
    assert list(tmp_path.iterdir()) == []


def test_fallbacks_write_the_outbox_and_skip_the_charge(tmp_path):
    assert attempt(make_context(TaskType.SEND), settings(tmp_path)).status is TaskStatus.SUCCEEDED
    assert attempt(make_context(TaskType.SYNC), settings(tmp_path)).status is TaskStatus.SUCCEEDED
    charge = attempt(make_context(TaskType.CHARGE), settings(tmp_path))
    assert (charge.status, charge.message) == (TaskStatus.SKIPPED, "no payment processor configured")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["INV-00042.send.eml", "INV-00042.sync.json"]
    synced = json.loads((tmp_path / "INV-00042.sync.json").read_text())
    assert synced["invoiceid"] == INVOICE["invoiceid"] and synced["invoicenumber"] == "INV-00042"
    sent = email.message_from_bytes((tmp_path / "INV-00042.send.eml").read_bytes())
    assert sent["To"] == "ap@example.com"


def test_unsigned_requests_are_refused(tmp_path):
    outcome = attempt(make_context(TaskType.CHARGE), settings(tmp_path, payment_url="http://127.0.0.1:9/pay"))
    assert outcome.status is TaskStatus.FAILED and "W365_TASK_SIGNING_KEY" in outcome.message


def test_unreachable_targets_are_transient(tmp_path):
    s = settings(tmp_path, accounting_url="http://127.0.0.1:9/sync", signing_key="k",
                 smtp_url="smtp://127.0.0.1:9")
    with pytest.raises(TransientTaskError):
        attempt(make_context(TaskType.SYNC), s)
    with pytest.raises(TransientTaskError):
        attempt(make_context(TaskType.SEND), s)


def test_unsupported_smtp_url_fails(tmp_path):
    outcome = attempt(make_context(TaskType.SEND), settings(tmp_path, smtp_url="http://mail:25"))
    assert outcome.status is TaskStatus.FAILED and "unsupported SMTP URL" in outcome.message


def test_handlers_cover_every_type():
    assert set(handlers._HANDLERS) == set(TaskType)


def test_outbox_messages_name_the_file_never_a_server_path(tmp_path):
    send = attempt(make_context(TaskType.SEND), settings(tmp_path / "deep" / "outbox"))
    sync = attempt(make_context(TaskType.SYNC), settings(tmp_path / "deep" / "outbox"))
    assert send.message == "no SMTP configured: written to the outbox as INV-00042.send.eml"
    assert sync.message == "no accounting webhook configured: written to the outbox as INV-00042.sync.json"
    assert str(tmp_path) not in send.message + sync.message


@pytest.mark.parametrize("number, expected", [
    ("../x", "_x.send.eml"), ("..", "invoice.send.eml"), ("a/b\\c", "a_b_c.send.eml"),
    (None, INVOICE["invoiceid"] + ".send.eml"),
    ("INV 7:ä", "INV_7__.send.eml"), (".hidden", "hidden.send.eml")])
def test_outbox_file_names_stay_inside_the_outbox(tmp_path, number, expected):
    outbox = tmp_path / "outbox"
    ctx = make_context(TaskType.SEND)
    ctx = type(ctx)(**{**ctx.__dict__, "invoice": {**ctx.invoice, "invoicenumber": number}})
    outcome = attempt(ctx, settings(outbox))
    assert outcome.status is TaskStatus.SUCCEEDED, outcome.message
    assert [p.name for p in outbox.iterdir()] == [expected]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["outbox"]


def test_write_outbox_refuses_a_name_leading_outside(tmp_path):
    from plugin.posttasks.delivery import write_outbox

    with pytest.raises(PermissionError):
        write_outbox(str(tmp_path / "outbox"), "../escaped.eml", b"x")
    assert not (tmp_path / "escaped.eml").exists()
