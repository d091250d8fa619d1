"""Plain data of the registration: what exists in the org (a snapshot) and what to change (a plan)."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal, Mapping


@dataclass(frozen=True)
class ExistingParameter:
    """A `customapirequestparameter` row."""

    id: str
    customapi_id: str
    uniquename: str
    name: str | None = None
    displayname: str | None = None
    description: str | None = None
    type: int | None = None
    isoptional: bool | None = None


@dataclass(frozen=True)
class ExistingCustomApi:
    """A `customapi` row with its request parameters."""

    id: str
    uniquename: str
    name: str | None = None
    displayname: str | None = None
    description: str | None = None
    bindingtype: int | None = None
    isfunction: bool | None = None
    allowedcustomprocessingsteptype: int | None = None
    parameters: tuple[ExistingParameter, ...] = ()


@dataclass(frozen=True)
class ExistingEndpoint:
    """A webhook `serviceendpoint` row (its `authvalue` cannot be read, only `isauthvalueset`)."""

    id: str
    name: str
    url: str | None = None
    authtype: int | None = None
    messageformat: int | None = None
    isauthvalueset: bool | None = None


@dataclass(frozen=True)
class ExistingStep:
    """An `sdkmessageprocessingstep` row."""

    id: str
    name: str | None
    message_id: str | None
    handler_id: str | None
    stage: int | None = None
    mode: int | None = None
    statecode: int | None = None


@dataclass(frozen=True)
class Snapshot:
    """The registration components found in the org; `messages` maps sdkmessage name -> id."""

    custom_apis: tuple[ExistingCustomApi, ...] = ()
    messages: Mapping[str, str] = field(default_factory=dict)
    endpoints: tuple[ExistingEndpoint, ...] = ()
    steps: tuple[ExistingStep, ...] = ()


@dataclass(frozen=True)
class Ref:
    """A row whose id is only known when the plan runs (created by an earlier change)."""

    kind: Literal["serviceendpoint", "sdkmessage"]
    name: str


@dataclass(frozen=True)
class Bind:
    """An `@odata.bind` value: the row of `entity_set` with this id, or with the id `ref` resolves to."""

    entity_set: str
    target: str | Ref


@dataclass(frozen=True)
class Change:
    """One write: create, update or delete a row. `record` values may be `Bind`s."""

    action: Literal["create", "update", "delete"]
    entity_set: str
    summary: str
    target_id: str | None = None
    record: Mapping[str, Any] = field(default_factory=dict)
    produces: Ref | None = None


State = Literal["ok", "missing", "differs", "conflict", "extra"]


@dataclass(frozen=True)
class Finding:
    """How one component compares with what the service needs."""

    component: str
    name: str
    state: State
    detail: str = ""


@dataclass(frozen=True)
class Plan:
    """The ordered changes to make, the findings behind them, and the ids already known."""

    changes: tuple[Change, ...] = ()
    findings: tuple[Finding, ...] = ()
    known: Mapping[Ref, str] = field(default_factory=dict)

    @property
    def conflicts(self) -> tuple[Finding, ...]:
        """Findings the plan cannot fix (fixed-once-saved columns that differ)."""
        return tuple(f for f in self.findings if f.state == "conflict")

    @property
    def problems(self) -> tuple[Finding, ...]:
        """Findings that mean the org is not ready (extras are informational)."""
        return tuple(f for f in self.findings if f.state in ("missing", "differs", "conflict"))
