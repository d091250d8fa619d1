"""Requests that are not row reads/writes: service document, `$metadata`, the metadata API,
many-to-many navigations and `$ref`, bound platform actions (AddPrivilegesRole)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from . import associations, metadata_api, row_segments
from .csdl import csdl, service_document
from .errors import DataverseFault, bad_segment
from .responses import ApiResponse, json_response
from .schema import Table
from .urls import Resource, not_implemented, parse_resource

if TYPE_CHECKING:
    from .service import Service, _Call

API_ROOT = "/api/data/v9.2/"
_ADD_PRIVILEGES = "Microsoft.Dynamics.CRM.AddPrivilegesRole"


def route_root(service: "Service", call: "_Call", res: Resource, method: str) -> ApiResponse | None:
    """The service document, `$metadata` and the metadata API; None for anything else."""
    store = service.store
    if res.name == "" and res.key is None:
        _only(method, "GET", res)
        return json_response(200, service_document(store.tables.values(),
                                                   f"{call.base}{API_ROOT}$metadata"))
    if res.name == "$metadata":
        _only(method, "GET", res)
        return ApiResponse(200, {"Content-Type": "application/xml", "OData-Version": "4.0"},
                           csdl(store.tables.values()).encode("utf-8"))
    if res.name == "CreateEntities" and res.key is None and res.rest is None:
        _only(method, "POST", res)
        service._caller(call.req)
        return metadata_api.create_entities(store.registry, call.req.body, call.base)
    if res.name in ("EntityDefinitions", "RelationshipDefinitions"):
        service._caller(call.req)
        if method == "GET":
            return metadata_api.read(store.registry, res, call.options, call.base)
        if method == "POST":
            return metadata_api.create(store.registry, res, call.req.body, call.base)
        if method in ("PUT", "DELETE") and res.key is not None:
            # Dataverse updates and deletes metadata; the local Dataverse only reads and creates it
            raise not_implemented(f"{method} of {res.name} metadata")
        raise _not_allowed(method, res)
    return None


def is_row_segment(table: Table, rest: str) -> bool:
    """Whether `route_row_segment` answers `<set>(<id>)/<rest>`."""
    if rest == _ADD_PRIVILEGES:
        return table.entity_set == "roles"
    return parse_resource(rest).name in table.many_to_many or row_segments.answers(table, rest)


def route_row_segment(
    service: "Service", call: "_Call", table: Table, ident: str, rest: str, method: str
) -> ApiResponse:
    """`<set>(<id>)/<many-to-many nav>[/$ref]` and bound actions."""
    store = service.store
    if rest == _ADD_PRIVILEGES and table.entity_set == "roles":
        _only(method, "POST", Resource(rest))
        associations.add_privileges_role(store, ident, call.req.body)
        return ApiResponse(204, {"OData-Version": "4.0"})
    sub = parse_resource(rest)
    if sub.name not in table.many_to_many:
        return row_segments.route(service, call, table, ident, rest, method)
    nav = table.many_to_many[sub.name]
    if sub.rest == "$ref" and sub.key is None:
        _only(method, "POST", sub)
        associations.associate(store, nav, ident, call.req.body)
        return ApiResponse(204, {"OData-Version": "4.0"})
    if sub.rest == "$ref" and sub.key is not None:
        _only(method, "DELETE", sub)
        associations.disassociate(store, nav, ident, sub.key)
        return ApiResponse(204, {"OData-Version": "4.0"})
    if sub.rest is not None or sub.key is not None:
        raise bad_segment(rest)
    _only(method, "GET", sub)
    return service._read_collection(
        call, store.tables[nav.target], where=associations.linked_where(nav, ident),
        path=f"{table.entity_set}({ident})/{nav.name}")


def _only(method: str, allowed: str, res: Resource) -> None:
    if method != allowed:
        raise _not_allowed(method, res)


def _not_allowed(method: str, res: Resource) -> DataverseFault:
    return DataverseFault(
        405, "0x80060888", f"The HTTP method '{method}' is not allowed on '{res.name}'."
    )
