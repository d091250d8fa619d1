"""Pure planning: from a snapshot, what exists, what is missing and the requests that add it."""

from __future__ import annotations

from connectors.dataverse import metadata_shapes as m

from . import spec
from .model import Change, Finding, Plan, Snapshot

_ROLE = "role"


def _entity_path(logical: str) -> str:
    return f"EntityDefinitions(LogicalName='{logical}')"


def _plan_table(table: spec.TableSpec, snap: Snapshot) -> tuple[list[Finding], list[Change]]:
    findings: list[Finding] = []
    changes: list[Change] = []
    existing = snap.tables.get(table.logical)
    if existing is None:
        findings.append(Finding("table", table.logical, "missing"))
        changes.append(Change("table", f"table {table.logical} ({len(table.columns)} columns)",
                              "POST", "EntityDefinitions", table.body()))
        have: frozenset[str] = frozenset()
    else:
        findings.append(Finding("table", table.logical, "ok"))
        have = existing.attributes
    for col in table.columns:
        name = col["SchemaName"].lower()
        if existing is None:
            continue
        state = "ok" if name in have else "missing"
        findings.append(Finding("column", f"{table.logical}.{name}", state))
        if state == "missing":
            changes.append(Change("column", f"column {table.logical}.{name}", "POST",
                                  f"{_entity_path(table.logical)}/Attributes", col))
    return findings, changes


def _plan_lookup(lookup: spec.LookupSpec, snap: Snapshot) -> tuple[list[Finding], list[Change]]:
    table = snap.tables.get(lookup.table)
    present = lookup.relationship in snap.relationships or (
        table is not None and lookup.name in table.attributes)
    name = f"{lookup.table}.{lookup.name} -> {lookup.target}"
    if present:
        return [Finding("lookup", name, "ok")], []
    return ([Finding("lookup", name, "missing")],
            [Change("lookup", f"lookup {name} ({lookup.relationship})", "POST",
                    "RelationshipDefinitions", lookup.body())])


def _plan_keys(table: spec.TableSpec, snap: Snapshot) -> tuple[list[Finding], list[Change]]:
    findings, changes = [], []
    existing = snap.tables.get(table.logical)
    for key, cols in table.keys.items():
        if existing is not None and key in existing.keys:
            findings.append(Finding("key", f"{table.logical}.{key}", "ok"))
            continue
        findings.append(Finding("key", f"{table.logical}.{key}", "missing"))
        changes.append(Change("key", f"alternate key {table.logical}.{key} ({', '.join(cols)})",
                              "POST", f"{_entity_path(table.logical)}/Keys", m.key(key, list(cols))))
    return findings, changes


def _plan_role(snap: Snapshot) -> tuple[list[Finding], list[Change]]:
    wanted = spec.role_privileges()
    findings: list[Finding] = []
    changes: list[Change] = []
    if snap.role_id is None:
        findings.append(Finding(_ROLE, spec.ROLE_NAME, "missing"))
        body = {"name": spec.ROLE_NAME}
        if snap.business_unit_id:
            body["businessunitid@odata.bind"] = f"/businessunits({snap.business_unit_id})"
        changes.append(Change(_ROLE, f"security role {spec.ROLE_NAME}", "POST", "roles", body))
    else:
        findings.append(Finding(_ROLE, spec.ROLE_NAME, "ok"))
    held = snap.role_privileges
    missing = tuple(p for p in wanted if p not in held)
    findings += [Finding("privilege", p, "ok" if p in held else "missing") for p in wanted]
    if missing:
        changes.append(Change("privileges", f"{len(missing)} privileges for {spec.ROLE_NAME} "
                              f"({spec.PRIVILEGE_DEPTH})", "POST",
                              "roles({role})/Microsoft.Dynamics.CRM.AddPrivilegesRole",
                              privileges=missing))
    return findings, changes


def plan_provision(snap: Snapshot) -> Plan:
    """Tables first, then lookups (both ends must exist), keys (they may use lookups), the role."""
    findings: list[Finding] = []
    changes: list[Change] = []
    for table in spec.TABLES:
        f, c = _plan_table(table, snap)
        findings += f
        changes += c
    for lookup in [*(lk for t in spec.TABLES for lk in t.lookups), spec.INVOICE_LOOKUP]:
        f, c = _plan_lookup(lookup, snap)
        findings += f
        changes += c
    for table in spec.TABLES:
        f, c = _plan_keys(table, snap)
        findings += f
        changes += c
    f, c = _plan_role(snap)
    return Plan(tuple(findings + f), tuple(changes + c))
