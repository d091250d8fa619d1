"""`$metadata` (CSDL XML, Schema `Microsoft.Dynamics.CRM` alias `mscrm`) and the service document."""

from __future__ import annotations

from typing import Iterable
from xml.sax.saxutils import quoteattr

from .schema import (
    BOOLEAN, CHOICE, DATEONLY, DATETIME, DECIMAL, GUID, INTEGER, LOOKUP, MONEY, STRING, Table,
)

_EDM = {GUID: "Edm.Guid", STRING: "Edm.String", INTEGER: "Edm.Int32", CHOICE: "Edm.Int32",
        DECIMAL: "Edm.Decimal", MONEY: "Edm.Decimal", BOOLEAN: "Edm.Boolean",
        DATEONLY: "Edm.Date", DATETIME: "Edm.DateTimeOffset", LOOKUP: "Edm.Guid"}
NAMESPACE = "Microsoft.Dynamics.CRM"


def _entity_type(table: Table, logical: dict[str, str]) -> list[str]:
    lines = [f"<EntityType Name={quoteattr(table.logical_name)}>",
             f"<Key><PropertyRef Name={quoteattr(table.primary_id)}/></Key>"]
    for col in table.columns.values():
        if col.write_only:
            continue
        edm = "Edm.Int64" if col.name == "versionnumber" else _EDM[col.type]
        nullable = ' Nullable="false"' if col.name == table.primary_id else ""
        lines.append(f"<Property Name={quoteattr(col.read_name)} Type={quoteattr(edm)}{nullable}/>")
    for col in table.columns.values():
        if col.type == LOOKUP and col.nav:
            lines.append(f"<NavigationProperty Name={quoteattr(col.nav)} "
                         f"Type={quoteattr('mscrm.' + logical[col.target or ''])}/>")
    for nav in [*table.collections.values(), *table.many_to_many.values()]:
        lines.append(f"<NavigationProperty Name={quoteattr(nav.name)} "
                     f"Type={quoteattr('Collection(mscrm.' + logical[nav.target] + ')')}/>")
    lines.append("</EntityType>")
    return lines


def csdl(tables: Iterable[Table]) -> str:
    """The CSDL document describing every table (an OData client can load it)."""
    tables = sorted(tables, key=lambda t: t.logical_name)
    logical = {t.entity_set: t.logical_name for t in tables}
    body = [
        '<?xml version="1.0" encoding="utf-8"?>',
        '<edmx:Edmx Version="4.0" xmlns:edmx="http://docs.oasis-open.org/odata/ns/edmx">',
        "<edmx:DataServices>",
        f'<Schema Namespace="{NAMESPACE}" Alias="mscrm" '
        'xmlns="http://docs.oasis-open.org/odata/ns/edm">',
    ]
    for table in tables:
        body += _entity_type(table, logical)
    body += [
        '<ComplexType Name="WhoAmIResponse"><Property Name="BusinessUnitId" Type="Edm.Guid" '
        'Nullable="false"/><Property Name="UserId" Type="Edm.Guid" Nullable="false"/>'
        '<Property Name="OrganizationId" Type="Edm.Guid" Nullable="false"/></ComplexType>',
        '<Function Name="WhoAmI"><ReturnType Type="mscrm.WhoAmIResponse" Nullable="false"/>'
        "</Function>",
        '<EntityContainer Name="System">',
    ]
    for table in tables:
        body.append(f"<EntitySet Name={quoteattr(table.entity_set)} "
                    f"EntityType={quoteattr('mscrm.' + table.logical_name)}/>")
    body += ['<FunctionImport Name="WhoAmI" Function="mscrm.WhoAmI"/>',
             "</EntityContainer>", "</Schema>", "</edmx:DataServices>", "</edmx:Edmx>"]
    return "\n".join(body)


def service_document(tables: Iterable[Table], context: str) -> dict:
    """`GET /api/data/v9.2/`: every entity set."""
    return {
        "@odata.context": context,
        "value": [{"name": t.entity_set, "kind": "EntitySet", "url": t.entity_set}
                  for t in sorted(tables, key=lambda t: t.entity_set)],
    }
