"""Read what exists of the provisioned components through the metadata Web API."""

from __future__ import annotations

from urllib.parse import quote

from connectors.dataverse import DataverseClient, odata
from connectors.dataverse.errors import NotFoundError

from . import spec
from .model import ExistingTable, Snapshot


def _table(client: DataverseClient, logical: str) -> ExistingTable | None:
    path = f"EntityDefinitions(LogicalName='{quote(logical)}')"
    params = {"$select": "LogicalName",
              "$expand": "Attributes($select=LogicalName),Keys($select=LogicalName,KeyAttributes)"}
    try:
        body = client.request("GET", path, params=params).json()
    except NotFoundError:
        return None
    return ExistingTable(logical, frozenset(a["LogicalName"] for a in body.get("Attributes", [])),
                         frozenset(k["LogicalName"] for k in body.get("Keys", [])))


def _relationships(client: DataverseClient, names: list[str]) -> frozenset[str]:
    wanted = " or ".join(f"SchemaName eq {odata.literal(n)}" for n in names)
    body = client.request("GET", "RelationshipDefinitions", params={
        "$select": "SchemaName", "$filter": wanted}).json()
    return frozenset(r["SchemaName"] for r in body.get("value", []))


def read_snapshot(client: DataverseClient) -> Snapshot:
    """Tables, relationships, the root business unit and the role with its privileges."""
    tables = {}
    for logical in [t.logical for t in spec.TABLES] + [spec.INVOICE_LOOKUP.table]:
        found = _table(client, logical)
        if found is not None:
            tables[logical] = found
    lookups = [lk.relationship for t in spec.TABLES for lk in t.lookups]
    relationships = _relationships(client, [*lookups, spec.INVOICE_LOOKUP.relationship])
    units = list(client.query("businessunits", select=["businessunitid"],
                              filter="_parentbusinessunitid_value eq null", top=1))
    unit_id = units[0]["businessunitid"] if units else None
    role_filter = odata.eq("name", spec.ROLE_NAME)
    if unit_id:
        role_filter += f" and _businessunitid_value eq {unit_id}"
    roles = list(client.query("roles", select=["roleid", "name"], filter=role_filter, top=1))
    role_id = roles[0]["roleid"] if roles else None
    held: frozenset[str] = frozenset()
    if role_id:
        body = client.request("GET", f"roles({role_id})/roleprivileges_association",
                              params={"$select": "name"}).json()
        held = frozenset(p["name"] for p in body.get("value", []))
    return Snapshot(tables, relationships, unit_id, role_id, held)
