"""Task types, statuses and the pure rules that decide which task rows a bulk row gets."""
from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from enum import IntEnum
from typing import Any, Mapping


class TaskType(IntEnum):
    """`w365_tasktype` choice values."""

    SEND = 1
    SYNC = 2
    CHARGE = 3

    @property
    def label(self) -> str:
        """The lower-case name used in the API (`send`, `sync`, `charge`)."""
        return self.name.lower()


class TaskStatus(IntEnum):
    """`w365_status` choice values of `w365_postinvoicetasks`."""

    QUEUED = 1
    SUCCEEDED = 2
    FAILED = 3
    SKIPPED = 4

    @property
    def label(self) -> str:
        """The lower-case name used in the API (`queued`, `succeeded`, ...)."""
        return self.name.lower()


# contract automation flag -> the task it enables (docs/interfaces.md)
_AUTOMATIONS = (("w365_autosend", TaskType.SEND), ("w365_autosync", TaskType.SYNC),
                ("w365_autocharge", TaskType.CHARGE))


def planned_tasks(contract: Mapping[str, Any], trigger: bool) -> list[TaskType]:
    """The tasks a created invoice gets: none unless the row's box is checked, then each enabled automation."""
    if not trigger:
        return []
    return [task for column, task in _AUTOMATIONS if contract.get(column) is True]


@dataclass(frozen=True)
class Outcome:
    """How one attempt at a task ended: a final status and a message for the Result column."""

    status: TaskStatus
    message: str = ""


class TransientTaskError(Exception):
    """The target could not be reached or answered 'try later': worth another attempt."""


@dataclass(frozen=True)
class InvoiceLine:
    """One invoice line as the documents need it."""

    number: int
    description: str
    quantity: Decimal
    unit_price: Decimal
    amount: Decimal
    discount: Decimal
    tax: Decimal
    total: Decimal


@dataclass(frozen=True)
class TaskContext:
    """Everything a task needs about its invoice, read set-based before the task runs."""

    task_id: str
    task_type: TaskType
    attempts: int
    invoice: Mapping[str, Any]          # the invoice row as read (docs/data-model.md column names)
    currency_code: str
    precision: int
    contract_id: str | None
    contract_name: str
    account_name: str
    contact_name: str | None
    contact_email: str | None
    lines: tuple[InvoiceLine, ...] = field(default_factory=tuple)

    @property
    def invoice_id(self) -> str:
        """The invoice's GUID."""
        return self.invoice["invoiceid"]

    @property
    def invoice_number(self) -> str:
        """The Dataverse auto-number (`INV-00001`)."""
        return self.invoice.get("invoicenumber") or self.invoice["invoiceid"]


def task_view(row: Mapping[str, Any]) -> dict[str, str]:
    """The API shape of a task row: `{task, status, message}`."""
    return {
        "task": TaskType(row["w365_tasktype"]).label,
        "status": TaskStatus(row.get("w365_status") or TaskStatus.QUEUED).label,
        "message": row.get("w365_message") or "",
    }
