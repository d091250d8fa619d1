"""Tables, columns, keys and relationships created through the metadata Web API, the privileges
a new table brings, and roles with their privileges read back."""
from __future__ import annotations

from decimal import Decimal

import pytest

from connectors.dataverse import metadata_shapes as m
from connectors.local_dataverse import LocalDataverse

from .conftest import Api, error_code


@pytest.fixture(scope="module")
def fresh():
    dv = LocalDataverse(db_path=":memory:", port=0).start()
    yield Api(dv)
    dv.stop()


def _bank_account() -> dict:
    return m.entity("new_BankAccount", "new_bankaccounts",
                    [m.string("new_AccountName", primary=True), m.money("new_Balance")],
                    display="Bank Account")


def test_a_created_table_serves_rows_and_brings_its_privileges(fresh):
    resp = fresh.post("EntityDefinitions", _bank_account())
    assert resp.status_code == 204, resp.text
    assert "/EntityDefinitions(" in resp.headers["OData-EntityId"]
    ident = fresh.create("new_bankaccounts", {"new_accountname": "Savings", "new_balance": 12.5})
    row = fresh.row("new_bankaccounts", ident)
    assert (row["new_accountname"], row["new_balance"], row["statecode"]) == ("Savings", Decimal("12.5"), 0)
    names = {p["name"] for p in fresh.rows(
        "privileges", "$select=name&$filter=endswith(name,'new_BankAccount')")}
    assert names >= {"prvCreatenew_BankAccount", "prvReadnew_BankAccount", "prvWritenew_BankAccount",
                     "prvDeletenew_BankAccount", "prvAppendnew_BankAccount",
                     "prvAppendTonew_BankAccount"}
    definition = fresh.get("EntityDefinitions(LogicalName='new_bankaccount')?$expand=Attributes"
                           "($select=LogicalName)").json()
    assert definition["PrimaryIdAttribute"] == "new_bankaccountid"
    assert {"new_bankaccountid", "new_accountname", "new_balance", "createdon",
            "statecode"} <= {a["LogicalName"] for a in definition["Attributes"]}


def test_columns_keys_and_relationships_are_added(fresh):
    picklist = m.picklist("new_Kind", {1: "Checking", 2: "Savings"})
    assert fresh.post("EntityDefinitions(LogicalName='new_bankaccount')/Attributes",
                      picklist).status_code == 204
    assert fresh.post("EntityDefinitions(LogicalName='new_bankaccount')/Attributes",
                      m.string("new_Iban", 34)).status_code == 204
    key = fresh.post("EntityDefinitions(LogicalName='new_bankaccount')/Keys",
                     m.key("new_iban_key", ["new_iban"]))
    assert key.status_code == 204, key.text
    rel = m.one_to_many("new_account_new_bankaccount", "account", "new_bankaccount",
                        m.lookup("new_Owner", ["account"]))
    assert fresh.post("RelationshipDefinitions", rel).status_code == 204
    owner = fresh.create("accounts", {"name": "Owner"})
    first = {"new_accountname": "A", "new_kind": 2, "new_iban": "DE01",
             "new_Owner@odata.bind": f"/accounts({owner})"}
    ident = fresh.create("new_bankaccounts", first)
    assert fresh.post("new_bankaccounts", {**first, "new_accountname": "B"}).status_code == 412
    by_key = fresh.get("new_bankaccounts(new_iban='DE01')", headers={
        "Prefer": 'odata.include-annotations="OData.Community.Display.V1.FormattedValue"'}).json()
    assert by_key["new_bankaccountid"] == ident and by_key["_new_owner_value"] == owner
    assert by_key["new_kind@OData.Community.Display.V1.FormattedValue"] == "Savings"
    related = fresh.rows(f"accounts({owner})/new_account_new_bankaccount", "$select=new_iban")
    assert [r["new_iban"] for r in related] == ["DE01"]


@pytest.mark.parametrize("path, body, status", [
    ("EntityDefinitions", {"SchemaName": "new_NoName", "Attributes": []}, 400),
    ("EntityDefinitions", {"SchemaName": "new_Two", "Attributes": [m.integer("new_x")]}, 400),
    ("EntityDefinitions", {"SchemaName": "bad name!", "Attributes": [m.string("a", primary=True)]}, 400),
    ("EntityDefinitions", [1, 2], 400),
    ("EntityDefinitions(LogicalName='account')/Attributes", m.lookup("new_x", ["contact"]), 400),
    ("EntityDefinitions(LogicalName='account')/Attributes", {"SchemaName": "new_y"}, 400),
    ("EntityDefinitions(LogicalName='account')/Attributes", m.string("name"), 400),
    ("EntityDefinitions(LogicalName='nosuch')/Attributes", m.string("new_z"), 404),
    ("EntityDefinitions(LogicalName='account')/Keys", m.key("new_k", ["nosuchcolumn"]), 400),
    ("EntityDefinitions(LogicalName='account')/Keys", {"SchemaName": "new_k"}, 400),
    ("RelationshipDefinitions", {"SchemaName": "new_r", "@odata.type":
                                 "Microsoft.Dynamics.CRM.OneToManyRelationshipMetadata"}, 400),
    ("RelationshipDefinitions", m.one_to_many("new_r2", "nosuch", "account", m.lookup("new_q", [])), 404),
    ("RelationshipDefinitions", {"SchemaName": "new_mm", "@odata.type":
                                 "Microsoft.Dynamics.CRM.ManyToManyRelationshipMetadata"}, 501),
    ("EntityDefinitions(LogicalName='account')/OneToManyRelationships", {}, 405),
])
def test_bad_metadata_writes_are_refused_in_dataverse_shape(fresh, path, body, status):
    resp = fresh.post(path, body)
    assert resp.status_code == status, resp.text
    assert error_code(resp)


def test_a_duplicate_table_is_refused_and_non_json_is_400(fresh):
    fresh.post("EntityDefinitions", m.entity("new_Dup", "new_dups", [m.string("new_name", primary=True)]))
    again = fresh.post("EntityDefinitions", m.entity("new_Dup", "new_dups", [m.string("new_name", primary=True)]))
    assert again.status_code == 400 and error_code(again) == "0x80044363"
    garbage = fresh.request("POST", "EntityDefinitions", data=b"{not json",
                            headers={"Content-Type": "application/json"})
    assert garbage.status_code == 400


def test_roles_take_privileges_and_read_them_back(fresh):
    unit = fresh.rows("businessunits", "$select=businessunitid")[0]["businessunitid"]
    role = fresh.create("roles", {"name": "Readers", "businessunitid@odata.bind": f"/businessunits({unit})"})
    read_account = fresh.rows("privileges", "$filter=name eq 'prvReadAccount'")[0]["privilegeid"]
    body = {"Privileges": [{"PrivilegeId": read_account, "Depth": "Global", "BusinessUnitId": unit}]}
    assert fresh.post(f"roles({role})/Microsoft.Dynamics.CRM.AddPrivilegesRole", body).status_code == 204
    held = fresh.rows(f"roles({role})/roleprivileges_association", "$select=name")
    assert [p["name"] for p in held] == ["prvReadAccount"]
    write_account = fresh.rows("privileges", "$filter=name eq 'prvWriteAccount'")[0]["privilegeid"]
    ref = {"@odata.id": f"{fresh.root}privileges({write_account})"}
    assert fresh.post(f"roles({role})/roleprivileges_association/$ref", ref).status_code == 204
    assert len(fresh.rows(f"roles({role})/roleprivileges_association")) == 2
    assert fresh.delete(f"roles({role})/roleprivileges_association({write_account})/$ref").status_code == 204
    assert len(fresh.rows(f"roles({role})/roleprivileges_association")) == 1
    for bad in ({}, {"Privileges": [{"PrivilegeId": "nope", "Depth": "Global"}]},
                {"Privileges": [{"PrivilegeId": read_account, "Depth": "Everywhere"}]}):
        resp = fresh.post(f"roles({role})/Microsoft.Dynamics.CRM.AddPrivilegesRole", bad)
        assert resp.status_code == 400 and error_code(resp), resp.text
    missing = fresh.post(f"roles({role})/Microsoft.Dynamics.CRM.AddPrivilegesRole",
                         {"Privileges": [{"PrivilegeId": "00000000-0000-0000-0000-000000000000",
                                          "Depth": "Basic"}]})
    assert missing.status_code == 404
    assert fresh.post(f"roles({role})/roleprivileges_association/$ref", {"@odata.id": "x"}).status_code == 400
    assert fresh.post(f"accounts({role})/Microsoft.Dynamics.CRM.AddPrivilegesRole", body).status_code == 404
