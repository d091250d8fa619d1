"""Bulk runs as plain data: the requested rows, each row's Result, the run's view (docs/data-model.md)."""
from __future__ import annotations

import csv
import io
import re

from dataclasses import dataclass, field, replace
from datetime import date
from typing import Any, Iterable, Mapping

from plugin.invoicing.writes import (RUN_COMPLETED, RUN_COMPLETED_WITH_ERRORS, RUN_RUNNING, SOURCES,
                                     RowOutcome, request_row)

RUN_STATUS_LABELS = {RUN_RUNNING: "running", RUN_COMPLETED: "completed",
                     RUN_COMPLETED_WITH_ERRORS: "completed_with_errors"}
SOURCE_LABELS = {value: name for name, value in SOURCES.items()}
PENDING = "pending"
CSV_HEADER = ["billing_contract_id", "name", "cycle", "result", "invoice_number", "invoice_total", "currency",
              "message"]
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
_PLAIN_NUMBER = re.compile(r"^-?\d+(\.\d+)?$")


@dataclass(frozen=True)
class RunRow:
    """One requested row: a contract, its cycle (None: the default cycle) and its post-task box."""

    index: int
    billing_contract_id: str
    cycle: str | None
    trigger: bool

    def request_json(self) -> dict[str, Any]:
        """The row as the command script writes it into `w365_requestjson`."""
        return request_row(self.billing_contract_id, self.cycle, self.trigger)


def rows_from_dicts(rows: Iterable[Mapping[str, Any]]) -> tuple[RunRow, ...]:
    """RunRows in request order from loaded `{billing_contract_id, cycle, trigger_post_invoicing_tasks}`."""
    return tuple(RunRow(index=i, billing_contract_id=str(row["billing_contract_id"]).lower(),
                        cycle=row.get("cycle") or None, trigger=bool(row.get("trigger_post_invoicing_tasks")))
                 for i, row in enumerate(rows))


@dataclass(frozen=True)
class RunRequest:
    """What a bulk run was asked to do, and on whose behalf."""

    rows: tuple[RunRow, ...]
    source: str = "api"                  # api | webhook | page | cli
    on_existing: str | None = None
    as_of: date | None = None
    run_key: str | None = None           # Idempotency-Key / webhook RunId; None: a new GUID
    caller_id: str | None = None         # systemuserid acted as (MSCRMCallerID), the initiating user
    caller_object_id: str | None = None  # Entra object id acted as (CallerObjectId)
    initiating_user_id: str | None = None  # recorded on the run; default: caller_id

    @property
    def initiating_user(self) -> str | None:
        """The systemuser recorded as the run's initiating user."""
        return self.initiating_user_id or self.caller_id

    def with_rows(self, rows: Iterable[RunRow]) -> "RunRequest":
        """The same request for other rows."""
        return replace(self, rows=tuple(rows))


@dataclass
class RowResult:
    """The Result column of one row: pending until its outcome is known, then its post tasks."""

    outcome: RowOutcome | None = None
    post_tasks: list[dict[str, str]] = field(default_factory=list)

    @property
    def status(self) -> str:
        """pending | created | skipped | failed."""
        return self.outcome.status if self.outcome is not None else PENDING

    def copy(self) -> "RowResult":
        """A copy safe to hand out while the run goes on."""
        return RowResult(self.outcome, [dict(t) for t in self.post_tasks])

    def as_json(self) -> dict[str, Any]:
        """The API's `result` object."""
        base = self.outcome.as_json() if self.outcome is not None else {
            "status": PENDING, "invoice": None, "existing_invoices": [], "message": None}
        return {**base, "post_tasks": self.post_tasks}


@dataclass
class RunView:
    """A run as `GET /invoice-runs/{id}` shows it."""

    run_id: str
    run_key: str | None
    status: int                           # RUN_RUNNING | RUN_COMPLETED | RUN_COMPLETED_WITH_ERRORS
    source: str | None
    rows: list[RunRow]
    names: dict[str, str]
    results: list[RowResult]
    throttled_s: float = 0.0              # time this process's execution waited out 429s

    @property
    def finished(self) -> bool:
        """Whether the run has ended."""
        return self.status != RUN_RUNNING

    def counts(self) -> dict[str, int]:
        """How many rows are created, skipped, failed and pending."""
        tally = {"created": 0, "skipped": 0, "failed": 0, PENDING: 0}
        for result in self.results:
            tally[result.status] += 1
        return tally

    def cycle_of(self, index: int) -> str | None:
        """The row's cycle: the one invoiced (default resolved), else the one requested."""
        outcome = self.results[index].outcome
        return (outcome.cycle if outcome is not None and outcome.cycle else None) or self.rows[index].cycle

    def as_json(self) -> dict[str, Any]:
        """The API's run object."""
        counts = self.counts()
        return {
            "run_id": self.run_id,
            "run_key": self.run_key,
            "status": RUN_STATUS_LABELS[self.status],
            "source": self.source,
            "progress": {"done": len(self.rows) - counts[PENDING], "total": len(self.rows)},
            "counts": {k: counts[k] for k in ("created", "skipped", "failed")},
            "throttled_s": round(self.throttled_s, 1),
            "rows": [{
                "row_index": row.index,
                "billing_contract_id": row.billing_contract_id,
                "name": self.names.get(row.billing_contract_id),
                "cycle": self.cycle_of(row.index),
                "trigger_post_invoicing_tasks": row.trigger,
                "result": result.as_json(),
            } for row, result in zip(self.rows, self.results)],
        }


def csv_cell(value: Any) -> str:
    """A CSV cell a spreadsheet shows as text: one starting like a formula is prefixed with `'`."""
    text = "" if value is None else str(value)
    if _PLAIN_NUMBER.match(text):  # a credit's "-12.50" stays a number: it cannot be a formula
        return text
    return "'" + text if text.startswith(_FORMULA_STARTS) else text


def csv_rows(view: RunView) -> list[list[str]]:
    """The Result as CSV cells, one list per row in request order (`CSV_HEADER` columns)."""
    lines = []
    for row, result in zip(view.as_json()["rows"], view.results):
        answer = row["result"]
        invoice = answer["invoice"] or {}
        currency = result.outcome.currency if result.outcome is not None and invoice else None
        lines.append([csv_cell(v) for v in (
            row["billing_contract_id"], row["name"], row["cycle"], answer["status"], invoice.get("number"),
            invoice.get("total"), currency, answer["message"])])
    return lines


def results_csv(view: RunView) -> str:
    """The Result as CSV (`CSV_HEADER`, then one line per row in request order)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_HEADER)
    writer.writerows(csv_rows(view))
    return out.getvalue()
