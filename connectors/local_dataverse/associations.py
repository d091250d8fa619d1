"""Many-to-many links (intersect tables): `$ref` association and the AddPrivilegesRole action."""

from __future__ import annotations

from typing import Any

from .errors import bad_payload, not_found
from .jsonout import loads_body
from .schema import ManyToMany, Table
from .store import Store, q
from .urls import parse_resource
from .values import canonical_guid

API_ROOT = "/api/data/v9.2/"
_DEPTHS = {"Basic": "Basic", "Local": "Local", "Deep": "Deep", "Global": "Global",
           "0": "Basic", "1": "Local", "2": "Deep", "3": "Global"}


def linked_where(nav: ManyToMany, ident: str) -> tuple[str, list]:
    """The `where` that reads the rows linked to `ident` through `nav`."""
    return (f"t.{q(nav.other + '')} IN (SELECT {q(nav.other)} FROM {q(nav.intersect)} "
            f"WHERE {q(nav.own)} = ?)", [ident])


def _target_id(store: Store, nav: ManyToMany, uri: Any) -> str:
    if not isinstance(uri, str) or not uri.strip():
        raise bad_payload("The body must hold '@odata.id' with the URI of the row to associate.")
    path = uri.split(API_ROOT, 1)[-1].lstrip("/")
    resource = parse_resource(path)
    ident = canonical_guid(resource.key or "")
    target: Table = store.tables[nav.target]
    if resource.name != nav.target or ident is None or resource.rest:
        raise bad_payload(f"'{uri}' is not a row of {nav.target}.")
    if store.fetch(target, ident) is None:
        raise not_found(target.logical_name, ident)
    return ident


def associate(store: Store, nav: ManyToMany, ident: str, body: bytes) -> None:
    """POST …/<nav>/$ref: link one row."""
    payload = loads_body(body)
    other = _target_id(store, nav, payload.get("@odata.id") if isinstance(payload, dict) else None)
    store.execute(f"INSERT OR IGNORE INTO {q(nav.intersect)} ({q(nav.own)}, {q(nav.other)}) "
                  "VALUES (?, ?)", (ident, other))


def disassociate(store: Store, nav: ManyToMany, ident: str, other: str | None) -> None:
    """DELETE …/<nav>(<id>)/$ref: unlink one row."""
    other_id = canonical_guid(other or "")
    if other_id is None:
        raise bad_payload("Name the row to disassociate: …/<nav>(<id>)/$ref.")
    store.execute(f"DELETE FROM {q(nav.intersect)} WHERE {q(nav.own)} = ? AND {q(nav.other)} = ?",
                  (ident, other_id))


def add_privileges_role(store: Store, role_id: str, body: bytes) -> None:
    """AddPrivilegesRole: add privileges (by id, at a depth) to a role; existing ones updated."""
    payload = loads_body(body)
    items = payload.get("Privileges") if isinstance(payload, dict) else None
    if not isinstance(items, list) or not items:
        raise bad_payload("AddPrivilegesRole needs a non-empty 'Privileges' array of RolePrivilege.")
    privileges = store.tables["privileges"]
    rows = []
    for item in items:
        ident = canonical_guid(item.get("PrivilegeId") if isinstance(item, dict) else None)
        depth = _DEPTHS.get(str(item.get("Depth")) if isinstance(item, dict) else "")
        if ident is None or depth is None:
            raise bad_payload("Every RolePrivilege needs a 'PrivilegeId' GUID and a 'Depth' "
                              "(Basic, Local, Deep or Global).")
        if store.fetch(privileges, ident) is None:
            raise not_found("privilege", ident)
        rows.append((role_id, ident, depth))
    with store.transaction():
        for row in rows:
            store.execute('INSERT OR REPLACE INTO "roleprivileges" ("roleid", "privilegeid", '
                          '"depth") VALUES (?, ?, ?)', row)
