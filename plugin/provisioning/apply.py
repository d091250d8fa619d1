"""Send a provision plan through the connector, in order."""

from __future__ import annotations

from typing import Callable

from connectors.dataverse import DataverseClient

from . import spec
from .model import Change, Plan, Snapshot


class ProvisionError(Exception):
    """A provisioning step that cannot go on (the message says why)."""


def _privileges_body(client: DataverseClient, change: Change, unit_id: str | None) -> dict:
    rows = client.query_in("privileges", "name", list(change.privileges),
                           select=["privilegeid", "name"])
    ids = {r["name"].lower(): r["privilegeid"] for r in rows}
    unknown = [p for p in change.privileges if p.lower() not in ids]
    if unknown:
        raise ProvisionError(f"these privileges do not exist in the org: {', '.join(unknown)}")
    items = []
    for name in change.privileges:
        item = {"PrivilegeId": ids[name.lower()], "Depth": spec.PRIVILEGE_DEPTH}
        if unit_id:
            item["BusinessUnitId"] = unit_id
        items.append(item)
    return {"Privileges": items}


def apply_plan(client: DataverseClient, plan: Plan, snap: Snapshot,
               on_applied: Callable[[Change], None] = lambda change: None) -> None:
    """Make every change of `plan`; the role's id is taken from the snapshot or its creation."""
    role_id = snap.role_id
    for change in plan.changes:
        if change.kind == "role":
            role_id = client.create("roles", change.body or {})
        elif change.kind == "privileges":
            if role_id is None:
                raise ProvisionError(f"the role {spec.ROLE_NAME} does not exist")
            client.request("POST", change.path.format(role=role_id),
                           json=_privileges_body(client, change, snap.business_unit_id))
        else:
            client.request(change.method, change.path, json=change.body)
        on_applied(change)
