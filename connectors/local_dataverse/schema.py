"""The runtime shape of a table (compiled from its entity metadata): columns, keys, navigations."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

# column types
GUID, STRING, INTEGER, DECIMAL, MONEY, BOOLEAN, DATEONLY, DATETIME, CHOICE, LOOKUP = (
    "Guid",
    "String",
    "Integer",
    "Decimal",
    "Money",
    "Boolean",
    "DateOnly",
    "DateTime",
    "Choice",
    "Lookup",
)

# what a `$filter` sees for each column type (odata_filter.ColumnRef.kind)
FILTER_KIND = {
    GUID: "guid",
    LOOKUP: "guid",
    STRING: "string",
    INTEGER: "int",
    CHOICE: "int",
    DECIMAL: "decimal",
    MONEY: "decimal",
    BOOLEAN: "bool",
    DATEONLY: "date",
    DATETIME: "datetime",
}

SYSTEM_COLUMNS = ("createdon", "modifiedon", "versionnumber")


@dataclass(frozen=True)
class Column:
    """One column: its logical name, type and what that type needs (labels, lookup target)."""

    name: str
    type: str
    labels: Mapping[int, str] | None = None  # Choice labels (formatted values)
    nav: str | None = None  # Lookup: single-valued navigation property
    target: str | None = None  # Lookup: target entity set
    on_delete: str = "setnull"  # Lookup: what deleting the target does (setnull|cascade)
    readonly: bool = False  # set by the server; client values ignored
    write_only: bool = False  # never returned (serviceendpoint.authvalue)
    default: Any = None  # value on create when the client sends none

    @property
    def read_name(self) -> str:
        """The property name on read: `_x_value` for lookups."""
        return f"_{self.name}_value" if self.type == LOOKUP else self.name


@dataclass(frozen=True)
class Collection:
    """A collection-valued navigation property: rows of `target` whose lookup `fk` points here."""

    name: str
    target: str
    fk: str


@dataclass(frozen=True)
class ManyToMany:
    """A many-to-many navigation: rows of `target` linked through the intersect table."""

    name: str
    target: str
    intersect: str
    own: str  # the intersect column holding this table's id
    other: str  # the intersect column holding the target's id


@dataclass
class Table:
    """One table: entity set, logical name, key, primary name, columns, alt keys, navigations."""

    entity_set: str
    logical_name: str
    primary_id: str
    primary_name: str | None
    columns: dict[str, Column]
    alternate_keys: dict[str, tuple[str, ...]] = field(default_factory=dict)
    collections: dict[str, Collection] = field(default_factory=dict)
    many_to_many: dict[str, ManyToMany] = field(default_factory=dict)
    schema_name: str = ""

    def __post_init__(self) -> None:
        self.by_read_name = {c.read_name: c for c in self.columns.values()}
        self.by_nav = {c.nav: c for c in self.columns.values() if c.nav}
