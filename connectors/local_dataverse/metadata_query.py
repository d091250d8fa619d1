"""`$select`, `$filter` and `$expand` over metadata items (plain dicts), as the metadata API does."""

from __future__ import annotations

import sqlite3
from typing import Any, Callable

from . import odata_filter
from .errors import INVALID_PROPERTY, DataverseFault, bad_query
from .urls import QueryOptions

_GUID_PROPS = {"MetadataId"}


def _kind(name: str, value: Any) -> str:
    if name in _GUID_PROPS or name.endswith("Id") and isinstance(value, str) and len(value) == 36:
        return "guid"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int"
    return "string"


def filter_items(items: list[dict], text: str, type_name: str) -> list[dict]:
    """The items whose scalar properties satisfy the `$filter` text."""
    scalars: dict[str, str] = {}
    for item in items:
        for name, value in item.items():
            if isinstance(value, (str, bool, int)) and not name.startswith("@"):
                scalars.setdefault(name, _kind(name, value))
    names = sorted(scalars)

    def resolve(name: str) -> odata_filter.ColumnRef:
        if name not in scalars:
            raise odata_filter.UnknownColumn(name, type_name)
        return odata_filter.ColumnRef(f't."{name}"', scalars[name])

    try:
        where, params = odata_filter.compile_filter(text, resolve)
    except odata_filter.UnknownColumn as exc:
        raise DataverseFault(400, INVALID_PROPERTY, str(exc)) from None
    except odata_filter.FilterSyntaxError as exc:
        raise bad_query(f"Invalid $filter: {exc}") from None
    conn = sqlite3.connect(":memory:")
    try:
        cols = ", ".join(f'"{n}" {"TEXT COLLATE NOCASE" if scalars[n] in ("string", "guid") else "INTEGER"}'
                         for n in names)
        conn.execute(f'CREATE TABLE t ("_i" INTEGER{", " + cols if cols else ""})')
        for i, item in enumerate(items):
            values = [item.get(n) if not isinstance(item.get(n), (dict, list)) else None
                      for n in names]
            values = [v.lower() if isinstance(v, str) and scalars[n] == "guid" else v
                      for n, v in zip(names, values)]
            conn.execute(f"INSERT INTO t VALUES ({', '.join('?' * (len(names) + 1))})",
                         [i, *values])
        keep = {r[0] for r in conn.execute(f"SELECT _i FROM t WHERE {where}", params)}
    finally:
        conn.close()
    return [item for i, item in enumerate(items) if i in keep]


def select(item: dict, names: list[str] | None, type_name: str, always: tuple[str, ...]) -> dict:
    """Only the `$select`ed properties (and the `always` ones), 400 on an unknown name."""
    if not names:
        return item
    out = {k: v for k, v in item.items() if k.startswith("@") or k in always}
    for name in names:
        if name not in item:
            raise DataverseFault(400, INVALID_PROPERTY, f"Could not find a property named "
                                 f"'{name}' on type 'Microsoft.Dynamics.CRM.{type_name}'.")
        out[name] = item[name]
    return out


def shape(
    items: list[dict],
    opts: QueryOptions,
    type_name: str,
    expandable: dict[str, Callable[[dict, QueryOptions], Any]],
    hidden: tuple[str, ...] = (),
) -> list[dict]:
    """Filter, order, top, expand (each expandable property by its own callback) and select."""
    if opts.filter:
        items = filter_items(items, opts.filter, type_name)
    for name, descending in reversed(opts.orderby):
        items = sorted(items, key=lambda i: (i.get(name) is None, str(i.get(name) or "").lower()),
                       reverse=descending)
    if opts.top is not None:
        items = items[: opts.top]
    wanted = {e.nav: e.options for e in opts.expand}
    unknown = set(wanted) - set(expandable)
    if unknown:
        raise DataverseFault(400, INVALID_PROPERTY, f"Could not find a navigation property named "
                             f"'{sorted(unknown)[0]}' on type 'Microsoft.Dynamics.CRM.{type_name}'.")
    out = []
    for item in items:
        base = {k: v for k, v in item.items() if k not in expandable and k not in hidden}
        base = select(base, opts.select, type_name, ("MetadataId", "@odata.type"))
        for name, nested in wanted.items():
            base[name] = expandable[name](item, nested)
        out.append(base)
    return out
