"""The metadata of one store: entity and relationship definitions, kept in SQLite, compiled to
`Table`s, changed through the metadata Web API (new tables, columns, keys, relationships)."""

from __future__ import annotations

import copy
import json
import re
import threading
from contextlib import contextmanager
from decimal import Decimal
from typing import Any, Callable, Iterator

from connectors.dataverse import metadata_shapes as shapes
from .errors import DataverseFault, bad_payload
from .metadata_compile import (
    ATTRIBUTE_TYPES, compile_tables, complete_attribute, complete_entity, complete_key,
    complete_relationship,
)
from .schema import LOOKUP, Column, Table

DUPLICATE_METADATA = "0x80044363"  # "a component with this name already exists"
METADATA_NOT_FOUND = "0x80040217"
_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]{1,99}$")
# privilege name verb -> accessright (Dataverse's AccessRights flags)
PRIVILEGE_VERBS = {"Create": 32, "Read": 1, "Write": 2, "Delete": 65536, "Append": 4,
                   "AppendTo": 16, "Assign": 524288, "Share": 262144}


def shipped_metadata() -> tuple[list[dict], list[dict]]:
    """The catalog a fresh store starts with: (entities, relationships), completed."""
    from .catalog_billing import shipped_catalog

    c = shipped_catalog()
    entities = [complete_entity(e, custom=e["SchemaName"].startswith("w365_"), object_type_code=i)
                for i, e in enumerate(c.entities, start=1)]
    relationships = [complete_relationship(r, custom=False) for r in c.relationships]
    relationships.append(complete_relationship({
        "@odata.type": shapes.CRM + "ManyToManyRelationshipMetadata",
        "SchemaName": "roleprivileges_association", "IntersectEntityName": "roleprivileges",
        "Entity1LogicalName": "privilege", "Entity1IntersectAttribute": "privilegeid",
        "Entity1NavigationPropertyName": "roleprivileges_association",
        "Entity2LogicalName": "role", "Entity2IntersectAttribute": "roleid",
        "Entity2NavigationPropertyName": "roleprivileges_association",
    }, custom=False))
    return entities, relationships


def _number(value: Any) -> Any:
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    raise TypeError(f"{type(value).__name__} is not JSON")


def plain(body: Any) -> Any:
    """A request body with its exact JSON numbers (Decimal) as plain ints and floats."""
    return json.loads(json.dumps(body, default=_number))


_OPTIONAL_NAMES = ("LogicalName", "EntitySetName", "LogicalCollectionName", "CollectionSchemaName")


def _name(value: Any, what: str) -> str:
    if not isinstance(value, str) or not _NAME.match(value):
        raise bad_payload(f"'{value}' is not a valid {what}: letters, digits and '_', "
                          "starting with a letter, at most 100 characters.")
    return value


class Registry:
    """Entity and relationship metadata of one store, and the `Table`s compiled from them."""

    def __init__(self, entities: list[dict], relationships: list[dict],
                 on_change: Callable[["Registry", list[str]], None]):
        self._entities = {e["LogicalName"]: e for e in entities}
        self._relationships = {r["SchemaName"]: r for r in relationships}
        self._on_change = on_change
        self._lock = threading.RLock()
        self.tables: dict[str, Table] = compile_tables(self._entities.values(),
                                                       self._relationships.values())
        self.by_logical: dict[str, Table] = {t.logical_name: t for t in self.tables.values()}

    # ----- reads --------------------------------------------------------------------------
    def entities(self) -> list[dict]:
        """Every entity definition (with Attributes and Keys), as read back."""
        return [copy.deepcopy(e) for e in self._entities.values()]

    def entity(self, logical: str) -> dict | None:
        """One entity definition by logical name (case-insensitive), or None."""
        found = self._entities.get(logical.lower())
        return copy.deepcopy(found) if found else None

    def relationships(self) -> list[dict]:
        """Every relationship definition."""
        return [copy.deepcopy(r) for r in self._relationships.values()]

    def referencing_lookups(self, entity_set: str) -> list[tuple[Table, Column]]:
        """Every (table, lookup column) whose target is `entity_set`."""
        return [(t, c) for t in self.tables.values() for c in t.columns.values()
                if c.type == LOOKUP and c.target == entity_set]

    def snapshot(self) -> dict[str, str]:
        """{kind:name: json} of every definition (what the store persists)."""
        out = {f"entity:{k}": json.dumps(v, sort_keys=True) for k, v in self._entities.items()}
        out.update({f"relationship:{k}": json.dumps(v, sort_keys=True)
                    for k, v in self._relationships.items()})
        return out

    # ----- changes (the metadata Web API) -------------------------------------------------
    def create_entity(self, body: Any) -> dict:
        """POST EntityDefinitions: a new table with its primary name column (and any others)."""
        body = plain(body)
        if not isinstance(body, dict):
            raise bad_payload("The body must be an EntityMetadata JSON object.")
        schema = _name(body.get("SchemaName"), "SchemaName")
        attrs = body.get("Attributes")
        if not isinstance(attrs, list) or not attrs:
            raise bad_payload("An entity must include the definition of its primary name "
                              "attribute in 'Attributes'.")
        primary = [a for a in attrs if isinstance(a, dict) and a.get("IsPrimaryName") is True]
        if len(primary) != 1 or not str(primary[0].get("@odata.type", "")).endswith(
                "StringAttributeMetadata"):
            raise bad_payload("'Attributes' must hold exactly one StringAttributeMetadata with "
                              "IsPrimaryName true.")
        for attr in attrs:
            self._check_attribute(attr, lookups_allowed=False)
        if body.get("OwnershipType") not in (None, "UserOwned", "OrganizationOwned"):
            raise bad_payload(f"Unsupported OwnershipType '{body.get('OwnershipType')}'.")
        # names the client may give: valid names or absent (null reads as absent, as Dataverse does)
        body = {k: v for k, v in body.items() if not (k in _OPTIONAL_NAMES and v is None)}
        for field in _OPTIONAL_NAMES:
            if field in body:
                _name(body[field], field)
        if "LogicalName" in body and body["LogicalName"] != schema.lower():
            raise bad_payload("LogicalName must be the SchemaName in lower case.")
        with self._mutating():
            logical = schema.lower()
            sets = {e["EntitySetName"].lower() for e in self._entities.values()}
            if logical in self._entities or (body.get("EntitySetName") or logical + "s").lower() in sets:
                raise DataverseFault(400, DUPLICATE_METADATA,
                                     f"An entity with the name {schema} already exists.")
            entity = complete_entity({**body, "Keys": []}, custom=True,
                                     object_type_code=10000 + len(self._entities))
            self._entities[logical] = entity
            self._changed([logical])
            return copy.deepcopy(entity)

    def add_attribute(self, entity: str, body: Any) -> dict:
        """POST EntityDefinitions(LogicalName='x')/Attributes: a new column (not a lookup)."""
        body = plain(body)
        self._check_attribute(body, lookups_allowed=False)
        with self._mutating():
            current = self._existing(entity)
            logical = str(body["SchemaName"]).lower()
            if any(a["LogicalName"] == logical for a in current["Attributes"]):
                raise DataverseFault(400, DUPLICATE_METADATA,
                                     f"An attribute with the name {body['SchemaName']} already "
                                     f"exists on {current['LogicalName']}.")
            attr = complete_attribute(current["LogicalName"], body, custom=True)
            current["Attributes"].append(attr)
            self._changed([current["LogicalName"]])
            return copy.deepcopy(attr)

    def add_key(self, entity: str, body: Any) -> dict:
        """POST EntityDefinitions(LogicalName='x')/Keys: a new alternate key."""
        body = plain(body)
        if not isinstance(body, dict):
            raise bad_payload("The body must be an EntityKeyMetadata JSON object.")
        _name(body.get("SchemaName"), "SchemaName")
        cols = body.get("KeyAttributes")
        if not isinstance(cols, list) or not cols or not all(isinstance(c, str) for c in cols):
            raise bad_payload("'KeyAttributes' must be a non-empty array of column logical names.")
        with self._mutating():
            current = self._existing(entity)
            names = {a["LogicalName"] for a in current["Attributes"]}
            missing = [c for c in cols if c.lower() not in names]
            if missing:
                raise bad_payload(f"KeyAttributes {missing} are not columns of "
                                  f"{current['LogicalName']}.")
            key = complete_key(current["LogicalName"], body)
            if any(k["LogicalName"] == key["LogicalName"] for k in current["Keys"]):
                raise DataverseFault(400, DUPLICATE_METADATA,
                                     f"A key with the name {body['SchemaName']} already exists.")
            current["Keys"].append(key)
            self._changed([current["LogicalName"]])
            return copy.deepcopy(key)

    def create_relationship(self, body: Any) -> dict:
        """POST RelationshipDefinitions: a one-to-many relationship and its lookup column."""
        body = plain(body)
        if not isinstance(body, dict):
            raise bad_payload("The body must be a relationship metadata JSON object.")
        if not str(body.get("@odata.type", "")).endswith("OneToManyRelationshipMetadata"):
            raise DataverseFault(501, "0x80040216", "Only OneToManyRelationshipMetadata can be "
                                 "created in the local Dataverse.")
        _name(body.get("SchemaName"), "SchemaName")
        lookup = body.get("Lookup")
        self._check_attribute(lookup, lookups_allowed=True)
        with self._mutating():
            if body["SchemaName"] in self._relationships:
                raise DataverseFault(400, DUPLICATE_METADATA,
                                     f"A relationship named {body['SchemaName']} already exists.")
            referenced = self._existing(str(body.get("ReferencedEntity") or ""))
            referencing = self._existing(str(body.get("ReferencingEntity") or ""))
            rel = complete_relationship(
                {**body, "ReferencedEntity": referenced["LogicalName"],
                 "ReferencingEntity": referencing["LogicalName"]}, custom=True)
            if rel["ReferencedAttribute"] != referenced["PrimaryIdAttribute"]:
                raise bad_payload("ReferencedAttribute must be the primary id of "
                                  f"{referenced['LogicalName']}.")
            if any(a["LogicalName"] == rel["ReferencingAttribute"]
                   for a in referencing["Attributes"]):
                raise DataverseFault(400, DUPLICATE_METADATA,
                                     f"An attribute named {rel['ReferencingAttribute']} already "
                                     f"exists on {referencing['LogicalName']}.")
            navs = {c for t in (self.by_logical[referenced["LogicalName"]],)
                    for c in [*t.collections, *t.by_nav]}
            if rel["ReferencedEntityNavigationPropertyName"] in navs:
                raise DataverseFault(400, DUPLICATE_METADATA, "The navigation property "
                                     f"{rel['ReferencedEntityNavigationPropertyName']} exists.")
            attr = complete_attribute(referencing["LogicalName"],
                                      {**lookup, "Targets": [referenced["LogicalName"]]},
                                      custom=True)
            referencing["Attributes"].append(attr)
            self._relationships[rel["SchemaName"]] = rel
            self._changed([referencing["LogicalName"]])
            return copy.deepcopy(rel)

    # ----- helpers ------------------------------------------------------------------------
    @contextmanager
    def _mutating(self) -> Iterator[None]:
        """One change, all or nothing: a failure restores the definitions as they were."""
        with self._lock:
            saved = copy.deepcopy((self._entities, self._relationships))
            try:
                yield
            except BaseException:
                self._entities, self._relationships = saved
                self.tables = compile_tables(self._entities.values(), self._relationships.values())
                self.by_logical = {t.logical_name: t for t in self.tables.values()}
                raise
    def _existing(self, logical: str) -> dict:
        found = self._entities.get(logical.lower())
        if found is None:
            raise DataverseFault(404, METADATA_NOT_FOUND,
                                 f"Could not find an entity with logical name '{logical}'.")
        return found

    @staticmethod
    def _check_attribute(attr: Any, *, lookups_allowed: bool) -> None:
        if not isinstance(attr, dict):
            raise bad_payload("An attribute must be an AttributeMetadata JSON object.")
        _name(attr.get("SchemaName"), "SchemaName")
        kind = attr.get("AttributeType")
        odata_type = str(attr.get("@odata.type", ""))
        if not odata_type.endswith("AttributeMetadata"):
            raise bad_payload("An attribute needs its '@odata.type' "
                              "(e.g. Microsoft.Dynamics.CRM.StringAttributeMetadata).")
        # the Complex* types of CreateEntities are the same attributes under another name
        attr["@odata.type"] = odata_type.replace(".ComplexAttribute", ".Attribute").replace(
            ".Complex", ".")
        if kind is None:
            kind = attr["@odata.type"].rsplit(".", 1)[-1].removesuffix("AttributeMetadata")
            kind = {"UniqueIdentifier": "Uniqueidentifier"}.get(kind, kind)
            attr["AttributeType"] = kind
        if kind not in ATTRIBUTE_TYPES:
            raise bad_payload(f"Unsupported AttributeType '{kind}'.")
        if (kind == "Lookup") != lookups_allowed:
            raise bad_payload("A lookup column is created with its relationship through POST "
                              "RelationshipDefinitions." if not lookups_allowed
                              else "'Lookup' must be a LookupAttributeMetadata.")
        if kind in ("Picklist", "State", "Status"):
            options = (attr.get("OptionSet") or {}).get("Options")
            if not isinstance(options, list) or not all(
                    isinstance(o, dict) and isinstance(o.get("Value"), int) for o in options):
                raise bad_payload("A choice column needs 'OptionSet.Options' with integer values.")

    def _changed(self, logicals: list[str]) -> None:
        self.tables = compile_tables(self._entities.values(), self._relationships.values())
        self.by_logical = {t.logical_name: t for t in self.tables.values()}
        self._on_change(self, logicals)
