"""The pure provision plan: what a snapshot lacks becomes requests, in an order that works."""
from __future__ import annotations

from plugin.provisioning import plan_provision, spec
from plugin.provisioning.model import ExistingTable, Snapshot

UNIT = "00000000-0000-0000-0000-0000000000b1"
ROLE = "00000000-0000-0000-0000-0000000000r1".replace("r", "e")


def _complete() -> Snapshot:
    tables = {t.logical: ExistingTable(
        t.logical,
        frozenset([*(c["SchemaName"].lower() for c in t.columns), *(lk.name for lk in t.lookups)]),
        frozenset(t.keys)) for t in spec.TABLES}
    tables["invoice"] = ExistingTable("invoice", frozenset({"invoiceid", "w365_invoicerun"}),
                                      frozenset())
    relationships = frozenset([*(lk.relationship for t in spec.TABLES for lk in t.lookups),
                               spec.INVOICE_LOOKUP.relationship])
    return Snapshot(tables, relationships, UNIT, ROLE, frozenset(spec.role_privileges()))


def test_an_empty_org_gets_everything_in_dependency_order():
    plan = plan_provision(Snapshot({"invoice": ExistingTable("invoice", frozenset(), frozenset())},
                                   frozenset(), UNIT, None))
    kinds = [c.kind for c in plan.changes]
    assert kinds == sorted(kinds, key=["table", "lookup", "key", "role", "privileges"].index)
    assert kinds.count("table") == 3 and kinds.count("key") == 2 and kinds.count("lookup") == 6
    role = next(c for c in plan.changes if c.kind == "role")
    assert role.body == {"name": "W365 Invoicing",
                         "businessunitid@odata.bind": f"/businessunits({UNIT})"}
    table = plan.changes[0]
    assert table.path == "EntityDefinitions"
    primary = [a for a in table.body["Attributes"] if a.get("IsPrimaryName")]
    assert [a["SchemaName"] for a in primary] == ["w365_name"]
    assert all(f.state == "missing" for f in plan.findings if f.component != "column")


def test_a_complete_org_needs_nothing():
    plan = plan_provision(_complete())
    assert plan.changes == () and plan.missing == ()


def test_a_missing_column_key_and_privilege_are_added_alone():
    snap = _complete()
    run = snap.tables["w365_invoicerun"]
    tables = {**snap.tables, "w365_invoicerun": ExistingTable(
        run.logical, run.attributes - {"w365_leaseowner"}, frozenset())}
    held = snap.role_privileges - {"prvWritew365_PostInvoiceTask"}
    plan = plan_provision(Snapshot(tables, snap.relationships, UNIT, ROLE, held))
    assert [(c.kind, c.path) for c in plan.changes] == [
        ("column", "EntityDefinitions(LogicalName='w365_invoicerun')/Attributes"),
        ("key", "EntityDefinitions(LogicalName='w365_invoicerun')/Keys"),
        ("privileges", "roles({role})/Microsoft.Dynamics.CRM.AddPrivilegesRole"),
    ]
    assert plan.changes[0].body["SchemaName"] == "w365_leaseowner"
    assert plan.changes[2].privileges == ("prvWritew365_PostInvoiceTask",)
    assert {f.name for f in plan.missing} == {"w365_invoicerun.w365_leaseowner",
                                               "w365_invoicerun.w365_runkey",
                                               "prvWritew365_PostInvoiceTask"}
