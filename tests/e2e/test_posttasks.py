"""Post-invoicing tasks end to end (DESIGN §6): real SMTP, a signed HTTP receiver, outbox fallbacks."""
from __future__ import annotations

import email
import json
import time

import pytest
from aiosmtpd.controller import Controller

from connectors.dataverse import odata
from plugin.app import create_app
from plugin.posttasks.signing import SIGNATURE_HEADER, verify
from tests import factories
from tests.conftest import QuietHandler, free_port, make_client, start_http_server

SIGNING_KEY = "task-signing-key"


class Mailbox:
    """aiosmtpd handler keeping every delivered message."""

    def __init__(self):
        self.messages: list[tuple[list[str], bytes]] = []

    async def handle_DATA(self, server, session, envelope):
        self.messages.append((list(envelope.rcpt_tos), envelope.original_content or envelope.content))
        return "250 OK"


@pytest.fixture()
def smtp():
    mailbox = Mailbox()
    controller = Controller(mailbox, hostname="127.0.0.1", port=free_port())
    controller.start()
    try:
        yield mailbox, f"smtp://127.0.0.1:{controller.port}"
    finally:
        controller.stop()


class Receiver:
    """A loopback HTTP server recording POSTs; the first `fail_first` requests answer 503."""

    def __init__(self, fail_first: int = 0):
        self.requests: list[tuple[str, dict, bytes]] = []
        self.fail_first = fail_first
        receiver = self

        class Handler(QuietHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                receiver.requests.append((self.path, dict(self.headers), body))
                status = 503 if len(receiver.requests) <= receiver.fail_first else 200
                self.send_response(status)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"{}")

        self.server = start_http_server(Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture()
def receiver():
    r = Receiver(fail_first=1)
    try:
        yield r
    finally:
        r.close()


def run_and_settle(app, rows) -> dict:
    """Start a run, then poll it until every post task has a final status."""
    api = app.test_client()
    response = api.post("/api/v1/invoice-runs?wait=60", json={"rows": rows, "as_of": "2026-02-01"})
    assert response.status_code == 200, response.get_json()
    run_id = response.get_json()["run_id"]
    deadline = time.monotonic() + 60
    while True:
        body = api.get(f"/api/v1/invoice-runs/{run_id}").get_json()
        tasks = [t for r in body["rows"] for t in r["result"]["post_tasks"]]
        if all(t["status"] != "queued" for t in tasks) or time.monotonic() > deadline:
            return body
        time.sleep(0.2)


def row(contract_id: str, trigger: bool) -> dict:
    return {"billing_contract_id": contract_id, "trigger_post_invoicing_tasks": trigger}


def tasks_in_dataverse(client, invoice_id: str) -> dict[int, dict]:
    return {t["w365_tasktype"]: t for t in client.query(
        "w365_postinvoicetasks", filter=odata.eq("_w365_invoice_value", invoice_id))}


def test_send_sync_and_charge_reach_their_targets(local_dataverse, plugin_config, dataverse_client, world, smtp,
                                                   receiver, tmp_path):
    mailbox, smtp_url = smtp
    config = plugin_config.with_overrides(smtp_url=smtp_url, accounting_webhook_url=f"{receiver.url}/sync",
                                          payment_webhook_url=f"{receiver.url}/charge",
                                          task_signing_key=SIGNING_KEY, outbox_dir=str(tmp_path))
    app = create_app(config, dataverse=make_client(local_dataverse))
    automated = dict(autosend=True, autosync=True, autocharge=True)
    every = factories.license_contract(dataverse_client, world, **automated)["contract_id"]
    unchecked = factories.license_contract(dataverse_client, world, **automated)["contract_id"]
    sync_only = factories.license_contract(dataverse_client, world, autosync=True)["contract_id"]

    body = run_and_settle(app, [row(every, True), row(unchecked, False), row(sync_only, True)])
    first, second, third = (r["result"] for r in body["rows"])
    assert [r["status"] for r in (first, second, third)] == ["created"] * 3
    assert {t["task"]: t["status"] for t in first["post_tasks"]} == {
        "send": "succeeded", "sync": "succeeded", "charge": "succeeded"}
    assert second["post_tasks"] == [] and tasks_in_dataverse(dataverse_client, second["invoice"]["id"]) == {}
    assert [(t["task"], t["status"]) for t in third["post_tasks"]] == [("sync", "succeeded")]

    number = first["invoice"]["number"]
    assert len(mailbox.messages) == 1
    recipients, raw = mailbox.messages[0]
    message = email.message_from_bytes(raw)
    assert recipients == ["ap@example.com"] and number in message["Subject"]
    assert {p.get_content_type() for p in message.walk() if not p.is_multipart()} == {"text/plain", "text/html"}

    posted = [(path, headers, body) for path, headers, body in receiver.requests]
    assert all(verify(b, SIGNING_KEY, h.get(SIGNATURE_HEADER)) for _, h, b in posted)
    sync_bodies = [json.loads(b) for path, _, b in posted if path == "/sync"]
    charge_bodies = [json.loads(b) for path, _, b in posted if path == "/charge"]
    assert {b["invoicenumber"] for b in sync_bodies} == {number, third["invoice"]["number"]}
    assert all(b["invoiceid"] for b in sync_bodies)
    assert {b["amount"] for b in charge_bodies} == {first["invoice"]["total"]}
    # 3 HTTP tasks; the first request (answered 503) was sent again with the same Idempotency-Key (task id)
    assert len(posted) == 4
    keys = [h.get("Idempotency-Key") for _, h, _ in posted]
    assert len(set(keys)) == 3 and keys.count(keys[0]) == 2

    stored = tasks_in_dataverse(dataverse_client, first["invoice"]["id"])
    assert {k: v["w365_status"] for k, v in stored.items()} == {1: 2, 2: 2, 3: 2}
    assert all(v["w365_completedon"] for v in stored.values())
    assert sum(v["w365_attempts"] for v in stored.values()) + \
        sum(v["w365_attempts"] for v in tasks_in_dataverse(dataverse_client, third["invoice"]["id"]).values()) == 5
    # the first POST got a 503: one task needed a second attempt
    invoice = dataverse_client.get("invoices", first["invoice"]["id"], select=["w365_posttasksrequested"])
    assert invoice["w365_posttasksrequested"] is True
    assert list(tmp_path.iterdir()) == []


def test_fallbacks_outbox_skip_and_missing_contact(local_dataverse, plugin_config, dataverse_client, world, tmp_path):
    app = create_app(plugin_config.with_overrides(outbox_dir=str(tmp_path)), dataverse=make_client(local_dataverse))
    automated = dict(autosend=True, autosync=True, autocharge=True)
    with_contact = factories.license_contract(dataverse_client, world, **automated)["contract_id"]
    silent_contact = factories.create_contact(dataverse_client, world.account_id, email=None)
    no_email = factories.create_contract(dataverse_client, account_id=world.account_id,
                                         currency_id=world.currency_id, contact_id=silent_contact,
                                         billingfrequency=3, autosend=True)
    sub = factories.create_subscription(dataverse_client, no_email, price="5.00")
    factories.create_change_log(dataverse_client, sub, no_email, effective="2026-01-01", delta=1, change_type=1)

    body = run_and_settle(app, [row(with_contact, True), row(no_email, True)])
    first, second = (r["result"] for r in body["rows"])
    number = first["invoice"]["number"]
    views = {t["task"]: t for t in first["post_tasks"]}
    assert views["send"]["status"] == views["sync"]["status"] == "succeeded"
    assert (views["charge"]["status"], views["charge"]["message"]) == ("skipped", "no payment processor configured")
    assert sorted(p.name for p in tmp_path.iterdir()) == [f"{number}.send.eml", f"{number}.sync.json"]
    synced = json.loads((tmp_path / f"{number}.sync.json").read_text())
    assert (synced["invoiceid"], synced["invoicenumber"]) == (first["invoice"]["id"], number)
    assert second["post_tasks"] == [{"task": "send", "status": "failed",
                                     "message": "no primary billing contact email"}]
    stored = tasks_in_dataverse(dataverse_client, second["invoice"]["id"])
    assert stored[1]["w365_status"] == 3 and stored[1]["w365_message"] == "no primary billing contact email"


def test_an_unreachable_target_fails_after_its_attempts(local_dataverse, plugin_config, dataverse_client, world,
                                                        tmp_path):
    from plugin.runs.model import RunRequest, RunRow
    from plugin.runs.service import RunService
    from plugin.posttasks import PostTaskWorker
    from plugin.posttasks.handlers import TaskSettings

    config = plugin_config.with_overrides(accounting_webhook_url=f"http://127.0.0.1:{free_port()}/sync",
                                          task_signing_key=SIGNING_KEY, outbox_dir=str(tmp_path))
    client = make_client(local_dataverse)
    worker = PostTaskWorker(client, TaskSettings.from_config(config), backoff_s=(0.05,), max_attempts=3)
    service = RunService(client, config, worker=worker)
    contract = factories.license_contract(dataverse_client, world, autosync=True)["contract_id"]
    run_id = service.start(RunRequest(rows=(RunRow(0, contract, None, True),)), background=False)
    assert worker.wait_idle(30)
    result = service.view(run_id).results[0]
    assert result.post_tasks[0]["status"] == "failed"
    assert result.post_tasks[0]["message"].startswith("gave up after 3 attempts: ")
    stored = tasks_in_dataverse(dataverse_client, result.outcome.invoice["id"])[2]
    assert (stored["w365_status"], stored["w365_attempts"]) == (3, 3)
    service.close()
