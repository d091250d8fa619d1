"""Run a plan through the connector, in order, resolving ids of rows created along the way."""
from __future__ import annotations

from typing import Any, Callable, Mapping

from connectors.dataverse import DataverseClient, odata
from connectors.dataverse.errors import NotFoundError

from .model import Bind, Change, Plan, Ref
from .read import read_messages


class RegistrationError(Exception):
    """A registration step that cannot go on (the message says what to do)."""


class PlanInterrupted(Exception):
    """A write failed part-way: `applied` changes were made before `error`."""

    def __init__(self, applied: int, total: int, error: Exception) -> None:
        super().__init__(str(error))
        self.applied = applied
        self.total = total
        self.error = error


class _Ids:
    """Ids known before the run plus those of rows created by it; sdkmessages are looked up."""

    def __init__(self, client: DataverseClient, known: Mapping[Ref, str]) -> None:
        self._client = client
        self._ids = dict(known)

    def add(self, ref: Ref, row_id: str) -> None:
        self._ids[ref] = row_id

    def resolve(self, ref: Ref) -> str:
        if ref not in self._ids and ref.kind == "sdkmessage":
            # Creating a custom API creates its sdkmessage; Dataverse names it after the API.
            for name, row_id in read_messages(self._client, [ref.name]).items():
                self._ids[Ref("sdkmessage", name)] = row_id
                self._ids[ref] = row_id
        if ref not in self._ids:
            raise RegistrationError(f"no {ref.kind} named {ref.name} exists in Dataverse")
        return self._ids[ref]


def _record(change: Change, ids: _Ids) -> dict[str, Any]:
    def value(v: Any) -> Any:
        if isinstance(v, Bind):
            target = ids.resolve(v.target) if isinstance(v.target, Ref) else v.target
            return odata.bind(v.entity_set, target)
        return v

    return {k: value(v) for k, v in change.record.items()}


def _apply_one(client: DataverseClient, change: Change, ids: _Ids) -> None:
    if change.action == "create":
        row_id = client.create(change.entity_set, _record(change, ids))
        if change.produces:
            ids.add(change.produces, row_id)
    elif change.action == "update":
        client.update(change.entity_set, change.target_id, _record(change, ids))
    elif change.action == "delete":
        try:
            client.delete(change.entity_set, change.target_id)
        except NotFoundError:
            pass  # already gone (a cascade, or someone else removed it): the goal holds
    else:
        raise ValueError(f"unknown action {change.action!r}")


def apply_plan(client: DataverseClient, plan: Plan,
               on_applied: Callable[[Change], None] | None = None) -> int:
    """Make the plan's changes in order; returns how many were made. A failure raises
    `PlanInterrupted` (how far it got, and the error)."""
    ids = _Ids(client, plan.known)
    for done, change in enumerate(plan.changes):
        try:
            _apply_one(client, change, ids)
        except Exception as exc:  # noqa: BLE001 - re-raised with progress attached
            raise PlanInterrupted(done, len(plan.changes), exc) from exc
        if on_applied:
            on_applied(change)
    return len(plan.changes)
