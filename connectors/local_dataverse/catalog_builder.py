"""A compact way to write the shipped catalog: tables and their lookups in Dataverse's shape."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

from connectors.dataverse import metadata_shapes as m

ACTIVE = {0: "Active", 1: "Inactive"}
ACTIVE_STATUS = {1: "Active", 2: "Inactive"}


@dataclass(frozen=True)
class Lookup:
    """A lookup column and the one-to-many relationship that defines it."""

    name: str
    target: str  # referenced table's logical name
    nav: str  # single-valued navigation property on the referencing table
    delete: str = "RemoveLink"  # or "Cascade"
    relationship: str | None = None  # relationship schema name (default derived)
    collection: str | None = None  # collection navigation on the target (default: the schema name)
    readonly: bool = False


class Catalog:
    """Collects `EntityMetadata` and `OneToManyRelationshipMetadata` dicts."""

    def __init__(self) -> None:
        self.entities: list[dict[str, Any]] = []
        self.relationships: list[dict[str, Any]] = []

    def table(
        self,
        schema: str,
        entity_set: str,
        primary_name: str | None,
        columns: list[dict[str, Any] | Lookup],
        *,
        state: Mapping[int, str] | None = None,
        status: Mapping[int, str] | None = None,
        keys: Mapping[str, tuple[str, ...]] | None = None,
        plural: str | None = None,
    ) -> None:
        """Add one table: its attributes, alternate keys and the relationships of its lookups."""
        logical = schema.lower()
        attributes: list[dict[str, Any]] = []
        for col in columns:
            if isinstance(col, Lookup):
                extra = {"IsValidForCreate": False, "IsValidForUpdate": False} if col.readonly else {}
                attr = m.lookup(col.name, [col.target], **extra)
                attributes.append(attr)
                self.relationships.append(
                    m.one_to_many(
                        col.relationship or f"{col.target}_{logical}_{col.name}",
                        col.target,
                        logical,
                        attr,
                        delete=col.delete,
                        referencing_nav=col.nav,
                        referenced_nav=col.collection,
                    )
                )
            else:
                if primary_name and col["SchemaName"].lower() == primary_name:
                    col = {**col, "IsPrimaryName": True}
                attributes.append(col)
        if state is not None:
            attributes.append(m.state(state))
        if status is not None:
            attributes.append(m.status(status))
        body = m.entity(schema, entity_set, attributes, plural=plural)
        body["Keys"] = [m.key(name, list(cols)) for name, cols in (keys or {}).items()]
        self.entities.append(body)


def strings(*names: str) -> list[dict[str, Any]]:
    """Plain text columns."""
    return [m.string(n) for n in names]
