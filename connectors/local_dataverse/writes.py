"""Writes: create (with deep insert and `@odata.bind`), update, delete, and their side effects."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote, urlsplit

from .errors import DataverseFault, MISSING_PRIVILEGE, bad_payload, bad_query, not_found
from .store import Store, q
from .schema import LOOKUP, Collection, Column, Table
from .urls import parse_key, parse_resource
from .values import canonical_guid, now_utc, parse_key_literal, to_storage

_VERSIONED_ROOT = re.compile(r"/api/data/v9\.[012]/")
_PRIV_CREATE_INVOICE = "4a4d9d61-7d8e-4e04-a0c8-35e8f93e5c3c"


@dataclass
class WriteContext:
    """Who writes, and where."""

    store: Store
    caller: dict[str, Any] | None = (
        None  # the impersonated systemuser row; None = the application user
    )


def resolve_key(table: Table, key_text: str) -> tuple[str | None, dict[str, Any] | None]:
    """A key segment -> (primary id, None), or (None, {column: stored value}) for an alt key."""
    bare, named = parse_key(key_text)
    if bare is None and set(named) == {table.primary_id}:
        bare = named[table.primary_id]
    if bare is not None:
        ident = canonical_guid(bare)
        if ident is None:
            raise bad_query(
                f"Bad Request - Error in query syntax: '{bare}' is not a valid key of "
                f"{table.entity_set}."
            )
        return ident, None
    columns: dict[str, Column] = {}
    for name in named:
        col = table.by_read_name.get(name) or table.columns.get(name)
        if col is None:
            raise DataverseFault(
                400,
                "0x80048d19",
                f"Invalid key: '{name}' is not a property of {table.logical_name}.",
            )
        columns[col.name] = col
    if tuple(sorted(columns)) not in {
        tuple(sorted(cols)) for cols in table.alternate_keys.values()
    }:
        raise bad_query(
            f"The key ({key_text}) is not an alternate key defined for entity "
            f"'{table.logical_name}'."
        )
    values = {}
    for name, text in named.items():
        col = table.by_read_name.get(name) or table.columns[name]
        values[col.name] = parse_key_literal(col, text)
    return None, values


def find(store: Store, table: Table, ident: str | None, key: dict[str, Any] | None) -> str | None:
    """The id of the row a key addresses, if it exists."""
    if ident is not None:
        return ident if store.find_by_key(table, {table.primary_id: ident}) else None
    return store.find_by_key(table, key or {})


def _bind_target(ctx: WriteContext, col: Column, uri: Any) -> str:
    """The id a `nav@odata.bind` URI points to (400 if malformed/wrong table, 404 if missing)."""
    if not isinstance(uri, str) or not uri.strip():
        raise bad_payload(
            f"The value of '{col.nav}@odata.bind' must be a URI such as '/{col.target}(<guid>)'."
        )
    path = unquote(urlsplit(uri).path) if "://" in uri else uri
    root = _VERSIONED_ROOT.search(path)
    if root:
        path = path[root.end():]
    resource = parse_resource(path.lstrip("/"))
    if resource.key is None or resource.rest is not None:
        raise bad_payload(f"'{uri}' is not a valid entity reference for '{col.nav}'.")
    if resource.name != col.target:
        raise bad_payload(
            f"'{col.nav}' references '{ctx.store.tables[col.target].logical_name}', "
            f"not '{resource.name}' ('{uri}')."
        )
    target = ctx.store.tables[col.target]
    ident, key = resolve_key(target, resource.key)
    found = find(ctx.store, target, ident, key)
    if found is None:
        raise not_found(target.logical_name, ident or resource.key)
    return found.lower()


@dataclass
class _Payload:
    values: dict[str, Any]
    ident: str | None
    collections: list[tuple[Collection, list]]
    parents: list[tuple[Column, dict]]


def _payload(ctx: WriteContext, table: Table, body: Any, creating: bool) -> _Payload:
    if not isinstance(body, dict):
        raise bad_payload(
            "Error identified in Payload provided by the user: the body must be a JSON object."
        )
    values: dict[str, Any] = {}
    ident = None
    collections: list[tuple[Collection, list]] = []
    parents: list[tuple[Column, dict]] = []
    for key, value in body.items():
        if key.startswith("@"):
            continue  # @odata.type, @odata.etag, ...
        prop, at, annotation = key.partition("@")
        if at:
            if annotation != "odata.bind":
                continue
            col = table.by_nav.get(prop)
            if col is None:
                raise bad_payload(
                    f"An undeclared property '{prop}' which only has property annotations in "
                    "the payload but no property value was found in the payload."
                )
            if not col.readonly:
                values[col.name] = None if value is None else _bind_target(ctx, col, value)
            continue
        if key in table.collections:
            if (
                not creating
                or not isinstance(value, list)
                or not all(isinstance(v, dict) for v in value)
            ):
                raise bad_payload(
                    f"'{key}' must be an array of new {table.collections[key].target} rows "
                    "(deep insert on create only)."
                )
            collections.append((table.collections[key], value))
            continue
        if key in table.by_nav and isinstance(value, dict) and creating:
            parents.append((table.by_nav[key], value))
            continue
        col = table.columns.get(key)
        if col is None or col.type == LOOKUP:
            hint = f" Use '{col.nav}@odata.bind'." if col is not None else ""
            raise bad_payload(
                f"The property '{key}' does not exist on type "
                f"'Microsoft.Dynamics.CRM.{table.logical_name}'. Make sure to only use property "
                f"names that are defined by the type.{hint}"
            )
        if col.readonly:
            continue
        if col.name == table.primary_id:
            ident = to_storage(col, value)
            continue
        values[col.name] = to_storage(col, value)
    return _Payload(values, ident, collections, parents)


def _check_privilege(ctx: WriteContext, table: Table) -> None:
    caller = ctx.caller
    if (
        table.entity_set == "invoices"
        and caller is not None
        and caller.get("w365_billingrole") == 0
    ):
        raise DataverseFault(
            403,
            MISSING_PRIVILEGE,
            f"Principal user (Id={caller['systemuserid']}, type=8, roleCount=1, privilegeCount=0, "
            "accessMode=0), "
            f"is missing prvCreateInvoice privilege (Id={_PRIV_CREATE_INVOICE}) on OTC=1090 "
            "for entity 'invoice'. "
            f"context.Caller={caller['systemuserid']}",
        )


def create(
    ctx: WriteContext,
    table: Table,
    body: Any,
    *,
    ident: str | None = None,
    forced: dict[str, Any] | None = None,
) -> str:
    """Create a row (and its deep-inserted related rows); its id."""
    _check_privilege(ctx, table)
    payload = _payload(ctx, table, body, creating=True)
    values = payload.values
    for col, parent_body in payload.parents:
        values[col.name] = create(ctx, ctx.store.tables[col.target], parent_body)
    if forced:
        values.update(forced)
    ident = ident or payload.ident or str(uuid.uuid4())
    if payload.ident and ident != payload.ident:
        raise bad_payload(
            f"The id in the body ({payload.ident}) does not match the id in the URL ({ident})."
        )
    for col in table.columns.values():
        if col.default is not None and values.get(col.name) is None and col.name not in values:
            values[col.name] = to_storage(col, col.default)
    _derive(ctx, table, values, creating=True)
    stamp = now_utc()
    values[table.primary_id] = ident
    values["createdon"] = values["modifiedon"] = stamp
    values["versionnumber"] = ctx.store.next_version()
    ctx.store.insert(table, values)
    for collection, rows in payload.collections:
        child_table = ctx.store.tables[collection.target]
        for row in rows:
            create(ctx, child_table, row, forced={collection.fk: ident})
    return ident


def _derive(ctx: WriteContext, table: Table, values: dict[str, Any], creating: bool) -> None:
    """Columns the platform computes: auto-numbers, full names, flags, a custom API's message."""
    name = table.entity_set
    if name == "invoices" and creating:
        values["invoicenumber"] = f"INV-{ctx.store.next_number('invoicenumber'):05d}"
    elif name in ("contacts", "systemusers") and creating and not values.get("fullname"):
        full = " ".join(v for v in (values.get("firstname"), values.get("lastname")) if v)
        if full:
            values["fullname"] = full
    elif name == "serviceendpoints" and (creating or "authvalue" in values):
        values["isauthvalueset"] = int(bool(values.get("authvalue")))
    elif name == "customapis" and creating:
        unique = values.get("uniquename")
        if not unique:
            raise bad_payload("customapi requires 'uniquename'.")
        values.setdefault("name", unique)
        values["sdkmessageid"] = create(
            ctx,
            ctx.store.tables["sdkmessages"],
            {
                "name": unique,
                "categoryname": "CustomAPI",
                "isprivate": bool(values.get("isprivate")),
            },
        )
    elif name == "customapis" and "uniquename" in values:
        raise bad_payload("The uniquename of a customapi cannot be changed once it is saved.")


def update(ctx: WriteContext, table: Table, ident: str, body: Any) -> None:
    """Update columns of an existing row."""
    payload = _payload(ctx, table, body, creating=False)
    if payload.ident and payload.ident != ident:
        raise bad_payload(
            f"The id in the body ({payload.ident}) does not match the id in the URL ({ident})."
        )
    values = payload.values
    _derive(ctx, table, values, creating=False)
    values["modifiedon"] = now_utc()
    values["versionnumber"] = ctx.store.next_version()
    ctx.store.update(table, ident, values)


def delete(ctx: WriteContext, table: Table, ident: str) -> None:
    """Delete a row: parental children go with it, other lookups to it are cleared."""
    store = ctx.store
    message_id = None
    if table.entity_set == "customapis":
        row = store.fetch(table, ident)
        message_id = row and row["sdkmessageid"]
    for child_table, col in store.registry.referencing_lookups(table.entity_set):
        if col.on_delete == "cascade":
            for (child_id,) in store.query(
                f"SELECT {q(child_table.primary_id)} FROM {q(child_table.entity_set)} "
                f"WHERE {q(col.name)} = ?",
                (ident,),
            ):
                delete(ctx, child_table, child_id)
        else:
            store.execute(
                f"UPDATE {q(child_table.entity_set)} SET {q(col.name)} = NULL, "
                f'"modifiedon" = ?, "versionnumber" = ? WHERE {q(col.name)} = ?',
                (now_utc(), store.next_version(), ident),
            )
    store.execute(f"DELETE FROM {q(table.entity_set)} WHERE {q(table.primary_id)} = ?", (ident,))
    if message_id:
        delete(ctx, ctx.store.tables["sdkmessages"], message_id)
