"""Reads: `$select`/`$filter`/`$orderby`/`$top`/`$expand`, `$skiptoken` paging, formatted values."""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from typing import Any, Callable, Iterable

from . import odata_filter
from .errors import DataverseFault, INVALID_PROPERTY, bad_query, unknown_property
from .formatting import FORMATTED_TYPES, formatted
from .store import Store, q
from .schema import DECIMAL, FILTER_KIND, LOOKUP, MONEY, Column, Table
from .urls import Expand, QueryOptions
from .values import from_storage

COUNT_LIMIT = 5000
MAX_PAGE_SIZE = 5000
FORMATTED = "OData.Community.Display.V1.FormattedValue"
LOOKUP_LOGICAL_NAME = "Microsoft.Dynamics.CRM.lookuplogicalname"
ASSOCIATED_NAV = "Microsoft.Dynamics.CRM.associatednavigationproperty"
_CHUNK = 500


class Annotations:
    """Which instance annotations `Prefer: odata.include-annotations` asks for."""

    def __init__(self, patterns: str | None):
        self.patterns = [p.strip() for p in (patterns or "").split(",") if p.strip()]

    def wants(self, name: str) -> bool:
        for pattern in self.patterns:
            if (
                pattern == "*"
                or pattern == name
                or (pattern.endswith(".*") and name.startswith(pattern[:-1]))
            ):
                return True
        return False

    def __bool__(self) -> bool:
        return bool(self.patterns)


def etag(version: Any) -> str:
    """The weak ETag of a row version."""
    return f'W/"{version}"'


def readable(table: Table, name: str) -> Column:
    """The column a `$select`/`$orderby` name refers to (400 0x80048d19 if none)."""
    col = table.by_read_name.get(name)
    if col is None or col.write_only:
        raise unknown_property(name, table.logical_name)
    return col


def column_resolver(
    tables: dict[str, Table], table: Table, alias: str
) -> Callable[[str], odata_filter.ColumnRef]:
    """The `resolve` callback of `odata_filter.compile_filter` for `table` under alias `alias`."""

    def resolve(name: str) -> odata_filter.ColumnRef:
        nav, slash, inner = name.partition("/")
        if slash:
            lookup = table.by_nav.get(nav)
            target = tables.get(lookup.target) if lookup else None
            col = target.by_read_name.get(inner) if target else None
            if lookup is None or col is None or col.write_only or "/" in inner:
                raise odata_filter.UnknownColumn(name, table.logical_name)
            sql = (
                f"(SELECT n.{q(col.name)} FROM {q(target.entity_set)} n "
                f"WHERE n.{q(target.primary_id)} = {alias}.{q(lookup.name)})"
            )
            return odata_filter.ColumnRef(sql, FILTER_KIND[col.type])
        col = table.by_read_name.get(name)
        if col is None or col.write_only:
            raise odata_filter.UnknownColumn(name, table.logical_name)
        return odata_filter.ColumnRef(f"{alias}.{q(col.name)}", FILTER_KIND[col.type])

    return resolve


def compile_where(
    tables: dict[str, Table], table: Table, text: str, alias: str, aliases: dict[str, str]
) -> tuple[str, list]:
    """A `$filter` as SQL (400 0x80060888 on bad syntax, 0x80048d19 on an unknown column)."""
    try:
        return odata_filter.compile_filter(
            text, column_resolver(tables, table, alias), aliases=aliases
        )
    except odata_filter.UnknownColumn as exc:
        raise DataverseFault(400, INVALID_PROPERTY, str(exc)) from None
    except odata_filter.FilterSyntaxError as exc:
        raise bad_query(f"Invalid $filter: {exc}") from None


def _sort_expr(col: Column) -> str:
    expr = f"t.{q(col.name)}"
    return f"CAST({expr} AS REAL)" if col.type in (DECIMAL, MONEY) else expr


def _after(order: list[tuple[str, bool]], values: list[Any]) -> tuple[str, list]:
    """SQL for "strictly after `values` in this order" (SQLite sorts NULL first ascending)."""
    alternatives, params = [], []
    for i, (expr, desc) in enumerate(order):
        conds = []
        for (prev, _), value in zip(order[:i], values[:i]):
            conds.append(f"{prev} IS ?")
            params.append(value)
        value = values[i]
        if value is None:
            if desc:
                continue  # nothing sorts after NULL descending except other NULLs
            conds.append(f"{expr} IS NOT NULL")
        elif desc:
            conds.append(f"({expr} < ? OR {expr} IS NULL)")
            params.append(value)
        else:
            conds.append(f"{expr} > ?")
            params.append(value)
        alternatives.append("(" + " AND ".join(conds) + ")")
    return "(" + (" OR ".join(alternatives) or "0") + ")", params


def encode_skiptoken(values: list[Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(values).encode()).decode().rstrip("=")


def decode_skiptoken(token: str, length: int) -> list[Any]:
    try:
        values = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
        if isinstance(values, list) and len(values) == length:
            return values
    except ValueError:
        pass
    raise bad_query("The $skiptoken is not valid for this query.")


@dataclass
class Page:
    """One page of a collection read."""

    rows: list[dict]
    skiptoken: str | None
    count: int | None


class Reader:
    """Runs reads against the store and shapes rows the way the Web API returns them."""

    def __init__(
        self, store: Store, annotations: Annotations, aliases: dict[str, str] | None = None
    ):
        self.store = store
        self.annotations = annotations
        self.aliases = aliases or {}

    # ----- collections --------------------------------------------------------------------
    def page(
        self,
        table: Table,
        opts: QueryOptions,
        *,
        page_size: int,
        skiptoken: str | None,
        where: tuple[str, list] | None = None,
    ) -> Page:
        """One page of rows of `table` matching `opts` (and `where`), shaped."""
        conds, params = self._conditions(table, opts, where)
        order = [(_sort_expr(readable(table, name)), desc) for name, desc in opts.orderby]
        pk = f"t.{q(table.primary_id)}"
        if not any(expr == pk for expr, _ in order):
            order.append((pk, False))
        count = None
        if opts.count:
            count = self.count(table, conds, params)
        if skiptoken:
            after_sql, after_params = _after(order, decode_skiptoken(skiptoken, len(order)))
            conds, params = [*conds, after_sql], [*params, *after_params]
        limit = opts.top if opts.top is not None else page_size + 1
        names = list(table.columns)
        sql = (
            f"SELECT {', '.join('t.' + q(n) for n in names)}, {', '.join(e for e, _ in order)} "
            f"FROM {q(table.entity_set)} t"
            + (" WHERE " + " AND ".join(conds) if conds else "")
            + " ORDER BY "
            + ", ".join(f"{e} {'DESC' if d else 'ASC'}" for e, d in order)
            + " LIMIT ?"
        )
        fetched = self.store.query(sql, [*params, limit])
        token = None
        if opts.top is None and len(fetched) > page_size:
            fetched = fetched[:page_size]
            token = encode_skiptoken(list(fetched[-1][len(names) :]))
        raw = [dict(zip(names, r)) for r in fetched]
        return Page(self.shape(table, raw, opts.select, opts.expand), token, count)

    def count(self, table: Table, conds: list[str], params: list) -> int:
        """Matching rows, counted up to COUNT_LIMIT + 1 (Dataverse stops counting at 5000)."""
        return self.store.query(
            f"SELECT COUNT(*) FROM (SELECT 1 FROM {q(table.entity_set)} t"
            + (" WHERE " + " AND ".join(conds) if conds else "")
            + " LIMIT ?)",
            [*params, COUNT_LIMIT + 1],
        )[0][0]

    def count_matching(
        self, table: Table, opts: QueryOptions, where: tuple[str, list] | None = None
    ) -> int:
        """`/$count`: the rows matching `$filter` (and `where`), up to COUNT_LIMIT + 1."""
        return self.count(table, *self._conditions(table, opts, where))

    def _conditions(self, table: Table, opts: QueryOptions, where: tuple[str, list] | None):
        conds, params = [], []
        if where:
            conds.append(where[0])
            params.extend(where[1])
        if opts.filter:
            sql, fparams = compile_where(self.store.tables, table, opts.filter, "t", self.aliases)
            conds.append(sql)
            params.extend(fparams)
        return conds, params

    # ----- shaping ------------------------------------------------------------------------
    def shape(
        self, table: Table, raw: list[dict], select: list[str] | None, expand: list[Expand]
    ) -> list[dict]:
        """Stored rows -> Web API JSON objects (selected columns, annotations, expansions)."""
        if select is None:
            cols = [c for c in table.columns.values() if not c.write_only]
        else:
            cols = [readable(table, name) for name in select]
            if not any(c.name == table.primary_id for c in cols):
                cols.append(table.columns[table.primary_id])
        names = self._lookup_names(raw, cols) if self.annotations else {}
        want_formatted = self.annotations.wants(FORMATTED)
        currencies = (
            self._currencies(table, raw)
            if want_formatted and any(c.type == MONEY for c in cols)
            else {}
        )
        want_logical = self.annotations.wants(LOOKUP_LOGICAL_NAME)
        want_nav = self.annotations.wants(ASSOCIATED_NAV)
        out = []
        for row in raw:
            obj: dict[str, Any] = {"@odata.etag": etag(row["versionnumber"])}
            for col in cols:
                value = row[col.name]
                key = col.read_name
                if value is not None and self.annotations:
                    if col.type == LOOKUP:
                        if want_formatted:
                            obj[f"{key}@{FORMATTED}"] = names.get((col.target, value))
                        if want_nav:
                            obj[f"{key}@{ASSOCIATED_NAV}"] = col.nav
                        if want_logical:
                            obj[f"{key}@{LOOKUP_LOGICAL_NAME}"] = self.store.tables[col.target].logical_name
                    elif want_formatted and col.type in FORMATTED_TYPES:
                        text = formatted(
                            col, value, currencies.get(row.get("transactioncurrencyid"))
                        )
                        if text is not None:
                            obj[f"{key}@{FORMATTED}"] = text
                obj[key] = from_storage(col.type, value)
            out.append(obj)
        for item in expand:
            self._expand(table, raw, out, item)
        return out

    def _currencies(self, table: Table, raw: list[dict]) -> dict[str, tuple[str, int]]:
        """(symbol, precision) of the currencies of `raw` (for formatted Money)."""
        if "transactioncurrencyid" not in table.columns:
            return {}
        ids = {r["transactioncurrencyid"] for r in raw if r["transactioncurrencyid"]}
        rows = self._by_ids(
            self.store.tables["transactioncurrencies"],
            ids,
            ["transactioncurrencyid", "currencysymbol", "currencyprecision"],
        )
        return {
            i.lower(): (symbol or "", 2 if precision is None else precision)
            for i, symbol, precision in rows
        }

    def _lookup_names(
        self, raw: list[dict], cols: list[Column]
    ) -> dict[tuple[str, str], str | None]:
        """Primary names of every lookup target referenced by `raw` (for formatted values)."""
        wanted: dict[str, set[str]] = {}
        for col in cols:
            if col.type == LOOKUP:
                ids = wanted.setdefault(col.target, set())
                ids.update(row[col.name] for row in raw if row[col.name] is not None)
        names: dict[tuple[str, str], str | None] = {}
        for target_set, ids in wanted.items():
            target = self.store.tables[target_set]
            if not target.primary_name:
                continue
            for ident, name in self._by_ids(target, ids, [target.primary_id, target.primary_name]):
                names[(target_set, ident.lower())] = name
        return names

    def _by_ids(
        self,
        table: Table,
        ids: Iterable[str],
        columns: list[str],
        column: str | None = None,
        extra: tuple[str, list] | None = None,
        order: str | None = None,
    ) -> list[tuple]:
        ids = list(ids)
        column = column or table.primary_id
        rows: list[tuple] = []
        for start in range(0, len(ids), _CHUNK):
            chunk = ids[start : start + _CHUNK]
            sql = (
                f"SELECT {', '.join('t.' + q(c) for c in columns)} FROM {q(table.entity_set)} t "
                f"WHERE t.{q(column)} IN ({', '.join('?' * len(chunk))})"
            )
            params = list(chunk)
            if extra:
                sql += f" AND {extra[0]}"
                params.extend(extra[1])
            if order:
                sql += f" ORDER BY {order}"
            rows.extend(self.store.query(sql, params))
        return rows

    def _expand(self, table: Table, raw: list[dict], out: list[dict], item: Expand) -> None:
        lookup = table.by_nav.get(item.nav)
        collection = table.collections.get(item.nav)
        if lookup is None and collection is None:
            raise bad_query(
                f"Could not find a property named '{item.nav}' on type "
                f"'Microsoft.Dynamics.CRM.{table.logical_name}'."
            )
        opts = item.options
        if lookup is not None:
            target = self.store.tables[lookup.target]
            ids = {row[lookup.name] for row in raw if row[lookup.name] is not None}
            names = list(target.columns)
            found = [dict(zip(names, r)) for r in self._by_ids(target, ids, names)]
            shaped = self.shape(target, found, opts.select, opts.expand)
            by_id = {r[target.primary_id]: s for r, s in zip(found, shaped)}
            for row, obj in zip(raw, out):
                obj[item.nav] = (
                    by_id.get(row[lookup.name]) if row[lookup.name] is not None else None
                )
            return
        target = self.store.tables[collection.target]
        names = list(target.columns)
        extra = compile_where(self.store.tables, target, opts.filter, "t", self.aliases) if opts.filter else None
        order = ", ".join(
            f"{_sort_expr(readable(target, n))} {'DESC' if d else 'ASC'}" for n, d in opts.orderby
        )
        order = (order + ", " if order else "") + f"t.{q(target.primary_id)}"
        parent_ids = [row[table.primary_id] for row in raw]
        children = [
            dict(zip(names, r))
            for r in self._by_ids(target, parent_ids, names, collection.fk, extra, order)
        ]
        grouped: dict[str, list[dict]] = {}
        for child in children:
            bucket = grouped.setdefault(child[collection.fk].lower(), [])
            if opts.top is None or len(bucket) < opts.top:
                bucket.append(child)
        for row, obj in zip(raw, out):
            kids = grouped.get(row[table.primary_id].lower(), [])
            obj[item.nav] = self.shape(target, kids, opts.select, opts.expand)

    # ----- single rows --------------------------------------------------------------------
    def one(self, table: Table, ident: str, opts: QueryOptions) -> dict | None:
        """One shaped row by id, or None."""
        row = self.store.fetch(table, ident)
        if row is None:
            return None
        return self.shape(table, [row], opts.select, opts.expand)[0]
