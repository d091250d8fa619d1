"""The metadata Web API: `EntityDefinitions` and `RelationshipDefinitions`, read and create."""

from __future__ import annotations

import re
from typing import Any

from .errors import DataverseFault, bad_payload, bad_query, bad_segment
from .jsonout import loads_body
from .metadata_query import shape
from .registry import METADATA_NOT_FOUND, Registry
from .responses import ApiResponse, json_response
from .urls import QueryOptions, Resource, parse_options, parse_resource

CRM = "Microsoft.Dynamics.CRM."
API_ROOT = "/api/data/v9.2/"
_NAMED_KEY = re.compile(r"^\s*(LogicalName|SchemaName|MetadataId)\s*=\s*'?([^']*)'?\s*$")
_ENTITY_NAVS = ("Attributes", "Keys", "OneToManyRelationships", "ManyToOneRelationships",
                "ManyToManyRelationships")


def _key(text: str) -> tuple[str, str]:
    text = text.strip()
    match = _NAMED_KEY.match(text)
    if match:
        return match.group(1), match.group(2)
    if re.fullmatch(r"[0-9a-fA-F-]{36}", text):
        return "MetadataId", text.lower()
    raise bad_query(f"Bad Request - Error in query syntax: invalid key segment '({text})'.")


def _find(items: list[dict], key_text: str, what: str) -> dict:
    prop, value = _key(key_text)
    for item in items:
        if str(item.get(prop, "")).lower() == value.lower():
            return item
    raise DataverseFault(404, METADATA_NOT_FOUND, f"Could not find {what} with {prop} = {value}.")


def _cast(items: list[dict], cast: str | None) -> list[dict]:
    if cast is None:
        return items
    if not cast.startswith(CRM):
        raise bad_segment(cast)
    return [i for i in items if i.get("@odata.type", "").lstrip("#") == cast]



def _option_set(attr: dict, _opts: QueryOptions) -> Any:
    return attr.get("OptionSet")


def _entity_navs(registry: Registry, entity: dict) -> dict[str, list[dict]]:
    logical = entity["LogicalName"]
    rels = registry.relationships()
    return {
        "Attributes": [_typed(a) for a in entity["Attributes"]],
        "Keys": [_typed(k) for k in entity["Keys"]],
        "OneToManyRelationships": [r for r in rels if r.get("ReferencedEntity") == logical],
        "ManyToOneRelationships": [r for r in rels if r.get("ReferencingEntity") == logical],
        "ManyToManyRelationships": [
            r for r in rels if logical in (r.get("Entity1LogicalName"), r.get("Entity2LogicalName"))
        ],
    }


def _typed(item: dict) -> dict:
    kind = item.get("@odata.type")
    return {**item, "@odata.type": "#" + kind.lstrip("#")} if kind else item


def _shape_attributes(attrs: list[dict], opts: QueryOptions) -> list[dict]:
    return shape(attrs, opts, "AttributeMetadata",
                 {"OptionSet": _option_set, "GlobalOptionSet": lambda a, o: None})


def _shape_entities(registry: Registry, entities: list[dict], opts: QueryOptions) -> list[dict]:
    def nav(name: str):
        def expand(entity: dict, nested: QueryOptions) -> list[dict]:
            items = _entity_navs(registry, entity)[name]
            if name == "Attributes":
                return _shape_attributes(items, nested)
            return shape(items, nested, name, {})
        return expand

    typed = [{"@odata.type": f"#{CRM}EntityMetadata", **e} for e in entities]
    return shape(typed, opts, "EntityMetadata", {n: nav(n) for n in _ENTITY_NAVS})


def read(registry: Registry, res: Resource, options: dict[str, str], base: str) -> ApiResponse:
    """GET below `EntityDefinitions` or `RelationshipDefinitions`."""
    opts = parse_options(options)
    context = f"{base}{API_ROOT}$metadata#"
    if res.name == "RelationshipDefinitions":
        rels = registry.relationships()
        typed = [{**r, "@odata.type": "#" + r["@odata.type"].lstrip("#")} for r in rels]
        if res.key is None:
            typed = _cast(typed, res.rest)
            return json_response(200, {"@odata.context": context + "RelationshipDefinitions",
                                       "value": shape(typed, opts, "RelationshipMetadataBase", {})})
        item = _find(typed, res.key, "a relationship")
        cast = res.rest
        if cast is not None and _cast([item], cast) == []:
            raise bad_segment(cast)
        (one,) = shape([item], opts, "RelationshipMetadataBase", {})
        return json_response(200, {"@odata.context": context + "RelationshipDefinitions/$entity",
                                   **one})
    entities = registry.entities()
    if res.key is None:
        if res.rest is not None:
            raise bad_segment(res.rest)
        return json_response(200, {"@odata.context": context + "EntityDefinitions",
                                   "value": _shape_entities(registry, entities, opts)})
    entity = _find(entities, res.key, "an entity")
    if res.rest is None:
        (one,) = _shape_entities(registry, [entity], opts)
        return json_response(200, {"@odata.context": context + "EntityDefinitions/$entity", **one})
    sub = parse_resource(res.rest)
    nav, cast = sub.name, None
    rest = sub.rest
    if nav not in _ENTITY_NAVS:
        raise bad_segment(nav)
    items = _entity_navs(registry, entity)[nav]
    if sub.key is None and rest is not None:
        cast, rest = rest, None
    if sub.key is not None:
        item = _find(items, sub.key, nav[:-1].lower())
        if rest is not None and not _cast([item], rest):
            raise bad_segment(rest)
        shaped = _shape_attributes([item], opts) if nav == "Attributes" else shape([item], opts, nav, {})
        return json_response(200, {"@odata.context": f"{context}EntityDefinitions"
                                   f"({entity['MetadataId']})/{nav}/$entity", **shaped[0]})
    items = _cast(items, cast)
    shaped = _shape_attributes(items, opts) if nav == "Attributes" else shape(items, opts, nav, {})
    return json_response(200, {"@odata.context": f"{context}EntityDefinitions"
                               f"({entity['MetadataId']})/{nav}", "value": shaped})


def create_entities(registry: Registry, body: bytes, base: str) -> ApiResponse:
    """The CreateEntities action (Microsoft's Python SDK creates tables with it): each entity
    as `POST EntityDefinitions` would create it; the ids of the new tables."""
    payload = loads_body(body)
    entities = payload.get("Entities") if isinstance(payload, dict) else None
    if not isinstance(entities, list) or not entities:
        raise bad_payload("CreateEntities needs a non-empty 'Entities' array.")
    ids = [registry.create_entity(e)["MetadataId"] for e in entities]
    return json_response(200, {"@odata.context": f"{base}{API_ROOT}$metadata#{CRM}"
                                                 "CreateEntitiesResponse", "EntityIds": ids})


def create(registry: Registry, res: Resource, body: bytes, base: str) -> ApiResponse:
    """POST EntityDefinitions, …/Attributes, …/Keys, RelationshipDefinitions: 204 + its id."""
    payload = loads_body(body)
    root = f"{base}{API_ROOT}"
    if res.name == "RelationshipDefinitions" and res.key is None and res.rest is None:
        rel = registry.create_relationship(payload)
        return _created(f"{root}RelationshipDefinitions({rel['MetadataId']})")
    if res.name == "EntityDefinitions" and res.key is None and res.rest is None:
        entity = registry.create_entity(payload)
        return _created(f"{root}EntityDefinitions({entity['MetadataId']})")
    if res.name == "EntityDefinitions" and res.key is not None and res.rest in ("Attributes", "Keys"):
        entity = _find(registry.entities(), res.key, "an entity")
        if res.rest == "Keys":
            key = registry.add_key(entity["LogicalName"], payload)
            return _created(f"{root}EntityDefinitions({entity['MetadataId']})/Keys({key['MetadataId']})")
        attr = registry.add_attribute(entity["LogicalName"], payload)
        return _created(
            f"{root}EntityDefinitions({entity['MetadataId']})/Attributes({attr['MetadataId']})")
    raise DataverseFault(405, "0x80060888", f"POST is not supported on '{res.name}"
                         f"{'(' + res.key + ')' if res.key else ''}{'/' + res.rest if res.rest else ''}'.")


def _created(entity_id: str) -> ApiResponse:
    return ApiResponse(204, {"OData-Version": "4.0", "OData-EntityId": entity_id})
