"""Entity metadata (Dataverse's JSON shape) -> the runtime `Table`s; completing what POST omits."""

from __future__ import annotations

import uuid
from typing import Any, Iterable

from connectors.dataverse import metadata_shapes as m
from .schema import (
    BOOLEAN, CHOICE, DATEONLY, DATETIME, DECIMAL, GUID, INTEGER, LOOKUP, MONEY, STRING,
    Collection, Column, ManyToMany, Table,
)

_TYPES = {
    "Uniqueidentifier": GUID, "String": STRING, "Memo": STRING, "EntityName": STRING,
    "Integer": INTEGER, "BigInt": INTEGER, "Decimal": DECIMAL, "Double": DECIMAL,
    "Money": MONEY, "Boolean": BOOLEAN, "Picklist": CHOICE, "State": CHOICE, "Status": CHOICE,
    "Lookup": LOOKUP, "Customer": LOOKUP, "Owner": LOOKUP,
}
ATTRIBUTE_TYPES = frozenset(_TYPES) | {"DateTime"}


def metadata_id(*parts: str) -> str:
    """A stable MetadataId for a named metadata item."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, "local-dataverse-metadata:" + ":".join(parts)))


def _label_text(value: Any) -> str | None:
    if isinstance(value, dict):
        user = value.get("UserLocalizedLabel") or {}
        if user.get("Label"):
            return user["Label"]
        for item in value.get("LocalizedLabels") or []:
            if item.get("Label"):
                return item["Label"]
    return None


def complete_attribute(entity: str, attr: dict[str, Any], *, custom: bool) -> dict[str, Any]:
    """An attribute with the read-only properties Dataverse fills in (LogicalName, MetadataId…)."""
    out = dict(attr)
    logical = str(out.get("LogicalName") or out["SchemaName"]).lower()
    out["LogicalName"] = logical
    out.setdefault("MetadataId", metadata_id(entity, logical))
    out["EntityLogicalName"] = entity
    for flag in ("IsPrimaryId", "IsPrimaryName"):
        out.setdefault(flag, False)
    out.setdefault("IsCustomAttribute", custom)
    out.setdefault("AttributeOf", None)
    for flag in ("IsValidForCreate", "IsValidForRead", "IsValidForUpdate"):
        out.setdefault(flag, True)
    if "AttributeTypeName" not in out and out.get("AttributeType"):
        out["AttributeTypeName"] = {"Value": f"{out['AttributeType']}Type"}
    return out


def _system_attributes(logical: str, present: set[str], *, custom: bool) -> list[dict[str, Any]]:
    readonly = {"IsValidForCreate": False, "IsValidForUpdate": False, "IsCustomAttribute": False}
    wanted = [
        m.uniqueidentifier(f"{logical}id", primary=True, IsValidForUpdate=False,
                           IsCustomAttribute=False),
        m.date_time("createdon", **readonly),
        m.date_time("modifiedon", **readonly),
        m.attribute("BigInt", "BigInt", "versionnumber", **readonly),
    ]
    if custom:  # a table made through POST EntityDefinitions gets its state and status
        wanted += [m.state({0: "Active", 1: "Inactive"}), m.status({1: "Active", 2: "Inactive"})]
    return [a for a in wanted if a["SchemaName"].lower() not in present]


def complete_entity(body: dict[str, Any], *, custom: bool, object_type_code: int) -> dict[str, Any]:
    """An `EntityMetadata` as read back: names, ids, primary attributes, system columns, keys."""
    out = dict(body)
    out.pop("@odata.type", None)
    logical = str(out.get("LogicalName") or out["SchemaName"]).lower()
    out["LogicalName"] = logical
    out.setdefault("MetadataId", metadata_id(logical))
    out.setdefault("EntitySetName", logical + "s")
    out.setdefault("LogicalCollectionName", out["EntitySetName"])
    out.setdefault("CollectionSchemaName", out["SchemaName"] + "s")
    out.setdefault("ObjectTypeCode", object_type_code)
    out.setdefault("IsCustomEntity", custom)
    out.setdefault("OwnershipType", "UserOwned")
    for flag in ("IsActivity", "HasActivities", "HasNotes", "IsIntersect", "IsPrivate"):
        out.setdefault(flag, False)
    attrs = [complete_attribute(logical, a, custom=custom) for a in out.get("Attributes") or []]
    present = {a["LogicalName"] for a in attrs}
    attrs += [complete_attribute(logical, a, custom=False)
              for a in _system_attributes(logical, present, custom=custom and "statecode" not in present)]
    out["Attributes"] = attrs
    out["PrimaryIdAttribute"] = f"{logical}id"
    names = [a["LogicalName"] for a in attrs if a.get("IsPrimaryName")]
    out["PrimaryNameAttribute"] = names[0] if names else out.get("PrimaryNameAttribute")
    out["Keys"] = [complete_key(logical, k) for k in out.get("Keys") or []]
    return out


def complete_key(entity: str, body: dict[str, Any]) -> dict[str, Any]:
    """An `EntityKeyMetadata` as read back."""
    out = dict(body)
    logical = str(out.get("LogicalName") or out["SchemaName"]).lower()
    out.update(LogicalName=logical, EntityLogicalName=entity,
               KeyAttributes=[str(a).lower() for a in out.get("KeyAttributes") or []],
               EntityKeyIndexStatus="Active")
    out.setdefault("MetadataId", metadata_id(entity, "key", logical))
    return out


def complete_relationship(body: dict[str, Any], *, custom: bool) -> dict[str, Any]:
    """A relationship as read back (navigation names default as Dataverse defaults them)."""
    out = dict(body)
    out.setdefault("@odata.type", m.CRM + "OneToManyRelationshipMetadata")
    out.setdefault("MetadataId", metadata_id("relationship", out["SchemaName"]))
    out.setdefault("IsCustomRelationship", custom)
    if out["@odata.type"].endswith("ManyToManyRelationshipMetadata"):
        out["RelationshipType"] = "ManyToManyRelationship"
        return out
    out["RelationshipType"] = "OneToManyRelationship"
    lookup = out.get("Lookup") or {}
    out["ReferencingAttribute"] = str(
        out.get("ReferencingAttribute") or lookup.get("LogicalName") or lookup["SchemaName"]
    ).lower()
    out["ReferencedEntity"] = str(out["ReferencedEntity"]).lower()
    out["ReferencingEntity"] = str(out["ReferencingEntity"]).lower()
    out.setdefault("ReferencedAttribute", out["ReferencedEntity"] + "id")
    out.setdefault("ReferencedEntityNavigationPropertyName", out["SchemaName"])
    out.setdefault("ReferencingEntityNavigationPropertyName",
                   lookup.get("SchemaName") or out["ReferencingAttribute"])
    out.pop("Lookup", None)
    return out


def _column(attr: dict[str, Any], entity_sets: dict[str, str], rel: dict | None) -> Column | None:
    kind = attr.get("AttributeType")
    if kind == "DateTime":
        col_type = DATEONLY if attr.get("Format") == "DateOnly" else DATETIME
    else:
        col_type = _TYPES.get(kind)  # type: ignore[arg-type]
    if col_type is None:
        return None
    name = attr["LogicalName"]
    readonly = not attr.get("IsValidForCreate", True) and not attr.get("IsValidForUpdate", True)
    write_only = not attr.get("IsValidForRead", True)
    labels = None
    option_set = attr.get("OptionSet") or {}
    if col_type == CHOICE:
        labels = {o["Value"]: _label_text(o.get("Label")) or str(o["Value"])
                  for o in option_set.get("Options") or []}
    elif col_type == BOOLEAN:
        labels = {0: _label_text((option_set.get("FalseOption") or {}).get("Label")) or "No",
                  1: _label_text((option_set.get("TrueOption") or {}).get("Label")) or "Yes"}
    default = attr.get("DefaultValue")
    if col_type == CHOICE and attr.get("DefaultFormValue", -1) not in (-1, None):
        default = attr["DefaultFormValue"]
    if name in ("statecode", "statuscode") and default is None:
        default = attr.get("DefaultFormValue", 0 if name == "statecode" else 1)
    if col_type != LOOKUP:
        return Column(name, col_type, labels=labels, readonly=readonly, write_only=write_only,
                      default=default)
    targets = attr.get("Targets") or ([rel["ReferencedEntity"]] if rel else [])
    target = entity_sets.get(targets[0]) if targets else None
    if target is None:
        return None
    on_delete = "cascade" if rel and rel.get("CascadeConfiguration", {}).get("Delete") == "Cascade" \
        else "setnull"
    nav = rel["ReferencingEntityNavigationPropertyName"] if rel else attr["SchemaName"]
    return Column(name, LOOKUP, nav=nav, target=target, on_delete=on_delete, readonly=readonly,
                  write_only=write_only)


def compile_tables(entities: Iterable[dict[str, Any]],
                   relationships: Iterable[dict[str, Any]]) -> dict[str, Table]:
    """Every entity's `Table`, keyed by entity set."""
    entities = list(entities)
    relationships = list(relationships)
    entity_sets = {e["LogicalName"]: e["EntitySetName"] for e in entities}
    one_to_many = [r for r in relationships if r["RelationshipType"] == "OneToManyRelationship"]
    by_lookup = {(r["ReferencingEntity"], r["ReferencingAttribute"]): r for r in one_to_many}
    tables: dict[str, Table] = {}
    for e in entities:
        logical = e["LogicalName"]
        columns: dict[str, Column] = {}
        for attr in e["Attributes"]:
            col = _column(attr, entity_sets, by_lookup.get((logical, attr["LogicalName"])))
            if col is not None:
                columns[col.name] = col
        collections = {
            r["ReferencedEntityNavigationPropertyName"]: Collection(
                r["ReferencedEntityNavigationPropertyName"], entity_sets[r["ReferencingEntity"]],
                r["ReferencingAttribute"])
            for r in one_to_many
            if r["ReferencedEntity"] == logical and r["ReferencingEntity"] in entity_sets
        }
        many = {}
        for r in relationships:
            if r["RelationshipType"] != "ManyToManyRelationship":
                continue
            for side, other in (("1", "2"), ("2", "1")):
                if r[f"Entity{side}LogicalName"] == logical:
                    nav = r[f"Entity{side}NavigationPropertyName"]
                    many[nav] = ManyToMany(
                        nav, entity_sets[r[f"Entity{other}LogicalName"]], r["IntersectEntityName"],
                        r[f"Entity{side}IntersectAttribute"], r[f"Entity{other}IntersectAttribute"])
        tables[e["EntitySetName"]] = Table(
            e["EntitySetName"], logical, e["PrimaryIdAttribute"], e.get("PrimaryNameAttribute"),
            columns, {k["LogicalName"]: tuple(k["KeyAttributes"]) for k in e.get("Keys") or []},
            collections, many, e["SchemaName"])
    return tables
