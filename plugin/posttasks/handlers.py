"""One attempt at a task: Send, Sync or Charge, each to its target or its fallback (docs/interfaces.md)."""
from __future__ import annotations

import logging
from dataclasses import dataclass

from plugin.config import Config
from plugin.posttasks.delivery import (PermanentTaskError, json_bytes, outbox_filename, post_signed, send_smtp,
                                       smtp_sender, write_outbox)
from plugin.posttasks.documents import charge_request, invoice_document, invoice_email
from plugin.posttasks.model import Outcome, TaskContext, TaskStatus, TaskType
from plugin.posttasks.signing import row_signing_key

log = logging.getLogger(__name__)

NO_CONTACT_EMAIL = "no primary billing contact email"
NO_PAYMENT_PROCESSOR = "no payment processor configured"
NO_SIGNING_KEY = "W365_TASK_SIGNING_KEY is not configured: refusing to send an unsigned request"


@dataclass(frozen=True)
class TaskSettings:
    """The task targets of the configuration (None: not configured)."""

    smtp_url: str | None
    outbox_dir: str
    accounting_url: str | None
    payment_url: str | None
    signing_key: str | None
    timeout_s: float = 10.0
    row_key: str | None = None   # signs the task rows (W365_TASK_SIGNING_KEY or generated); None: not checked

    @classmethod
    def from_config(cls, config: Config) -> "TaskSettings":
        """The settings of a service Config."""
        return cls(smtp_url=config.smtp_url, outbox_dir=config.outbox_dir,
                   accounting_url=config.accounting_webhook_url, payment_url=config.payment_webhook_url,
                   signing_key=config.task_signing_key, row_key=row_signing_key(config.task_signing_key))


def _send(ctx: TaskContext, settings: TaskSettings) -> Outcome:
    if not ctx.contact_email:
        return Outcome(TaskStatus.FAILED, NO_CONTACT_EMAIL)
    if settings.smtp_url:
        send_smtp(invoice_email(ctx, smtp_sender(settings.smtp_url)), settings.smtp_url, settings.timeout_s)
        return Outcome(TaskStatus.SUCCEEDED, f"sent to {ctx.contact_email}")
    name = outbox_filename(ctx.invoice_number, ".send.eml")
    write_outbox(settings.outbox_dir, name, invoice_email(ctx, "invoices@w365.local").as_bytes())
    return Outcome(TaskStatus.SUCCEEDED, f"no SMTP configured: written to the outbox as {name}")


def _sync(ctx: TaskContext, settings: TaskSettings) -> Outcome:
    document = invoice_document(ctx)
    if not settings.accounting_url:
        name = outbox_filename(ctx.invoice_number, ".sync.json")
        write_outbox(settings.outbox_dir, name, json_bytes(document))
        return Outcome(TaskStatus.SUCCEEDED, f"no accounting webhook configured: written to the outbox as {name}")
    if not settings.signing_key:
        return Outcome(TaskStatus.FAILED, NO_SIGNING_KEY)
    response = post_signed(settings.accounting_url, document, settings.signing_key, ctx.task_id, settings.timeout_s)
    return Outcome(TaskStatus.SUCCEEDED, f"synced (accounting system answered {response.status_code})")


def _charge(ctx: TaskContext, settings: TaskSettings) -> Outcome:
    if not settings.payment_url:
        return Outcome(TaskStatus.SKIPPED, NO_PAYMENT_PROCESSOR)
    if not settings.signing_key:
        return Outcome(TaskStatus.FAILED, NO_SIGNING_KEY)
    response = post_signed(settings.payment_url, charge_request(ctx), settings.signing_key, ctx.task_id,
                           settings.timeout_s)
    return Outcome(TaskStatus.SUCCEEDED, f"charge requested (payment processor answered {response.status_code})")


_HANDLERS = {TaskType.SEND: _send, TaskType.SYNC: _sync, TaskType.CHARGE: _charge}


def attempt(ctx: TaskContext, settings: TaskSettings) -> Outcome:
    """Run one attempt; a final Outcome, or TransientTaskError when another attempt may succeed."""
    try:
        return _HANDLERS[ctx.task_type](ctx, settings)
    except PermanentTaskError as exc:
        return Outcome(TaskStatus.FAILED, str(exc))
    except OSError as exc:  # the outbox directory cannot be written: not going to fix itself
        log.error("post task %s: the outbox could not be written: %s", ctx.task_id, exc)
        return Outcome(TaskStatus.FAILED, "the outbox could not be written (the service log has the reason)")
