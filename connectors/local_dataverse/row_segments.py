"""Segments below one row: a single property (GET/PUT/DELETE), a single-valued navigation (GET),
and `$ref` links of one-to-many relationships (set or clear the lookup)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .errors import DataverseFault, bad_payload, bad_segment, not_found
from .jsonout import loads_body
from .responses import ApiResponse, json_response
from .schema import LOOKUP, Table
from .urls import QueryOptions, parse_resource
from .values import canonical_guid
from .writes import update

if TYPE_CHECKING:
    from .service import Service, _Call

API_ROOT = "/api/data/v9.2/"
_NO_CONTENT = {"OData-Version": "4.0"}


def answers(table: Table, rest: str) -> bool:
    """Whether `<set>(<id>)/<rest>` is a property, a navigation or a one-to-many `$ref`."""
    sub = parse_resource(rest)
    if sub.rest is None and sub.key is None:
        col = table.by_read_name.get(sub.name)
        return (col is not None and not col.write_only) or sub.name in table.by_nav
    return sub.rest == "$ref" and (sub.name in table.collections or sub.name in table.by_nav)


def _uri_id(uri: Any, entity_set: str) -> str:
    if not isinstance(uri, str):
        raise bad_payload("The body must hold '@odata.id' with the URI of a row.")
    resource = parse_resource(uri.split(API_ROOT, 1)[-1].lstrip("/"))
    ident = canonical_guid(resource.key or "")
    if resource.name != entity_set or ident is None or resource.rest:
        raise bad_payload(f"'{uri}' is not a row of {entity_set}.")
    return ident


def route(service: "Service", call: "_Call", table: Table, ident: str, rest: str,
          method: str) -> ApiResponse:
    """Answer a segment `answers` accepted."""
    sub = parse_resource(rest)
    if sub.rest == "$ref":
        return _ref(service, call, table, ident, sub.name, sub.key, method)
    if sub.name in table.by_nav:
        if method != "GET":
            raise _not_allowed(method, rest)
        col = table.by_nav[sub.name]
        row = service.store.fetch(table, ident)
        target = service.store.tables[col.target or ""]
        if row is None or row[col.name] is None:
            return ApiResponse(204, dict(_NO_CONTENT))
        return service._read_one(call, target, row[col.name])
    return _property(service, call, table, ident, sub.name, method)


def _property(service: "Service", call: "_Call", table: Table, ident: str, name: str,
              method: str) -> ApiResponse:
    col = table.by_read_name[name]
    if method == "GET":
        row = call.reader(service.store).one(table, ident, _select(name))
        if row is None:
            raise not_found(table.logical_name, ident)
        value = row.get(name)
        if value is None:
            return ApiResponse(204, dict(_NO_CONTENT))
        context = f"{call.base}{API_ROOT}$metadata#{table.entity_set}({ident})/{name}"
        return json_response(200, {"@odata.context": context, "value": value})
    if method not in ("PUT", "DELETE"):
        raise _not_allowed(method, name)
    if col.type == LOOKUP or col.readonly or col.name == table.primary_id:
        raise bad_payload(f"'{name}' cannot be written as a single property.")
    if method == "PUT":
        body = loads_body(call.req.body)
        if not isinstance(body, dict) or "value" not in body:
            raise bad_payload("A single-property PUT needs a body {\"value\": …}.")
        value = body["value"]
    else:
        value = None
    with service.store.transaction():
        update(service._context(call), table, ident, {col.name: value})
    return ApiResponse(204, dict(_NO_CONTENT))


def _ref(service: "Service", call: "_Call", table: Table, ident: str, nav: str,
         child_key: str | None, method: str) -> ApiResponse:
    store = service.store
    with store.transaction():
        ctx = service._context(call)
        if nav in table.by_nav:  # single-valued: this row's own lookup
            col = table.by_nav[nav]
            if method == "PUT" and child_key is None:
                payload = loads_body(call.req.body)
                uri = payload.get("@odata.id") if isinstance(payload, dict) else None
                target = _uri_id(uri, col.target or "")
                update(ctx, table, ident, {f"{nav}@odata.bind": f"/{col.target}({target})"})
            elif method == "DELETE" and child_key is None:
                update(ctx, table, ident, {f"{nav}@odata.bind": None})
            else:
                raise _not_allowed(method, f"{nav}/$ref")
            return ApiResponse(204, dict(_NO_CONTENT))
        collection = table.collections[nav]
        child_table = store.tables[collection.target]
        child_col = child_table.columns[collection.fk]
        if method == "POST" and child_key is None:
            payload = loads_body(call.req.body)
            uri = payload.get("@odata.id") if isinstance(payload, dict) else None
            child = _uri_id(uri, child_table.entity_set)
            value: str | None = f"/{table.entity_set}({ident})"
        elif method == "DELETE" and child_key is not None:
            child = canonical_guid(child_key)
            if child is None:
                raise bad_segment(f"{nav}({child_key})")
            value = None
        else:
            raise _not_allowed(method, f"{nav}/$ref")
        row = store.fetch(child_table, child)
        if row is None:
            raise not_found(child_table.logical_name, child)
        if value is None and row[child_col.name] != ident:
            raise not_found(child_table.logical_name, child)
        update(ctx, child_table, child, {f"{child_col.nav}@odata.bind": value})
    return ApiResponse(204, dict(_NO_CONTENT))


def _select(name: str) -> QueryOptions:
    return QueryOptions(select=[name])


def _not_allowed(method: str, what: str) -> DataverseFault:
    return DataverseFault(405, "0x80060888", f"The HTTP method '{method}' is not allowed on '{what}'.")
