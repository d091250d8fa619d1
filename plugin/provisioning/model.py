"""The data `w365 provision` plans with: what exists (a snapshot), findings and changes."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class ExistingTable:
    """A table that exists: its column and alternate-key logical names."""

    logical: str
    attributes: frozenset[str]
    keys: frozenset[str]


@dataclass(frozen=True)
class Snapshot:
    """What the org holds of what provision makes."""

    tables: dict[str, ExistingTable]
    relationships: frozenset[str]
    business_unit_id: str | None
    role_id: str | None
    role_privileges: frozenset[str] = frozenset()


@dataclass(frozen=True)
class Finding:
    """One component and its state: ok or missing."""

    component: str  # table|column|lookup|key|role|privilege
    name: str
    state: str  # ok|missing


@dataclass(frozen=True)
class Change:
    """One metadata Web API request: `method path` with `body` (`privileges`: resolved on apply)."""

    kind: str  # table|column|lookup|key|role|privileges
    summary: str
    method: str
    path: str
    body: dict[str, Any] | None = None
    privileges: tuple[str, ...] = ()


@dataclass(frozen=True)
class Plan:
    """Findings (what exists and what is missing) and the changes that make the missing parts."""

    findings: tuple[Finding, ...]
    changes: tuple[Change, ...] = field(default_factory=tuple)

    @property
    def missing(self) -> tuple[Finding, ...]:
        """The findings that are not ok."""
        return tuple(f for f in self.findings if f.state != "ok")
