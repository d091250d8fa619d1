"""What community clients use: WhoAmI, older version prefixes, `$count`, `/$count`, single
properties, `$ref`, every one-to-many navigation; what is not implemented is refused, not ignored."""
from __future__ import annotations

import pytest

from .conftest import error_code


@pytest.mark.parametrize("path", ["WhoAmI", "WhoAmI()"])
@pytest.mark.parametrize("version", ["v9.0", "v9.1", "v9.2"])
def test_who_am_i_under_every_version_prefix(local_dataverse, api, version, path):
    resp = api.get(f"{local_dataverse.url}/api/data/{version}/{path}")
    assert resp.status_code == 200, resp.text
    assert set(resp.json()) >= {"UserId", "BusinessUnitId", "OrganizationId"}


def test_older_prefixes_serve_rows_too(local_dataverse, api):
    ident = api.create("accounts", {"name": "Prefix Co"})
    resp = api.get(f"{local_dataverse.url}/api/data/v9.0/accounts({ident})?$select=name")
    assert resp.status_code == 200 and resp.json()["name"] == "Prefix Co"
    bind = {"fullname": "Bound", "parentcustomerid_account@odata.bind":
            f"{local_dataverse.url}/api/data/v9.1/accounts({ident})"}
    created = api.post(f"{local_dataverse.url}/api/data/v9.1/contacts", bind)
    assert created.status_code == 204, created.text


@pytest.mark.parametrize("query", [
    "fetchXml=%3Cfetch%20top%3D%221%22%3E%3Centity%20name%3D%22account%22%2F%3E%3C%2Ffetch%3E",
    "sql=SELECT%20name%20FROM%20account", "savedQuery=00000000-0000-0000-0000-000000000001",
    "userQuery=00000000-0000-0000-0000-000000000001", "FetchXml=%3Cfetch%2F%3E",
])
def test_unimplemented_query_parameters_are_refused_not_ignored(api, query):
    api.create("accounts", {"name": "Never listed"})
    resp = api.get(f"accounts?{query}")
    assert resp.status_code == 501 and error_code(resp) == "0x80040216", resp.text
    assert "value" not in resp.json()


@pytest.mark.parametrize("path, status", [
    ("accounts?$apply=groupby((name))", 400), ("RetrieveVersion()", 501),
    ("Microsoft.Dynamics.CRM.RetrieveTotalRecordCount(EntityNames=['account'])", 501),
    ("nosuchset", 404),
])
def test_unknown_functions_and_apply_are_refused(api, path, status):
    resp = api.get(path)
    assert resp.status_code == status and error_code(resp), resp.text


def test_count_is_capped_at_5000_with_dataverse_annotations(local_dataverse, api):
    store = local_dataverse.store
    table = store.tables["w365_usagerecords"]
    with store.transaction():
        for i in range(5003):
            store.insert(table, {"w365_usagerecordid": f"00000000-0000-0000-0000-{i:012d}",
                                 "w365_name": f"u{i}", "createdon": "2026-01-01T00:00:00Z",
                                 "modifiedon": "2026-01-01T00:00:00Z", "versionnumber": 1})
    body = api.get("w365_usagerecords?$count=true&$select=w365_name&$top=2").json()
    assert body["@odata.count"] == 5000 and len(body["value"]) == 2
    assert body["@Microsoft.Dynamics.CRM.totalrecordcountlimitexceeded"] is True
    assert api.get("w365_usagerecords/$count").text == "5000"
    few = api.get("w365_usagerecords?$count=true&$filter=startswith(w365_name,'u500')").json()
    assert few["@odata.count"] == 4 and few["@Microsoft.Dynamics.CRM.totalrecordcountlimitexceeded"] is False
    assert api.get("w365_usagerecords/$count?$filter=w365_name eq 'u7'").text == "1"


def test_single_property_get_put_delete(api):
    ident = api.create("accounts", {"name": "Prop", "telephone1": "123"})
    got = api.get(f"accounts({ident})/telephone1")
    assert got.status_code == 200 and got.json()["value"] == "123"
    assert api.request("PUT", f"accounts({ident})/telephone1", json_body={"value": "456"}).status_code == 204
    assert api.row("accounts", ident)["telephone1"] == "456"
    assert api.delete(f"accounts({ident})/telephone1").status_code == 204
    assert api.get(f"accounts({ident})/telephone1").status_code == 204
    assert api.request("PUT", f"accounts({ident})/telephone1", json_body={"v": 1}).status_code == 400
    assert api.request("PUT", f"accounts({ident})/accountid", json_body={"value": ident}).status_code == 400
    assert api.get(f"accounts({ident})/nosuchcolumn").status_code == 404


def test_ref_links_and_unlinks_one_to_many(api):
    account = api.create("accounts", {"name": "Parent"})
    contact = api.create("contacts", {"fullname": "Child"})
    ref = {"@odata.id": f"{api.root}contacts({contact})"}
    assert api.post(f"accounts({account})/contact_customer_accounts/$ref", ref).status_code == 204
    assert api.row("contacts", contact)["_parentcustomerid_value"] == account
    listed = api.rows(f"accounts({account})/contact_customer_accounts", "$select=fullname")
    assert [c["fullname"] for c in listed] == ["Child"]
    nav = api.get(f"contacts({contact})/parentcustomerid_account?$select=name").json()
    assert nav["name"] == "Parent"
    assert api.delete(f"accounts({account})/contact_customer_accounts({contact})/$ref").status_code == 204
    assert api.row("contacts", contact)["_parentcustomerid_value"] is None
    single = {"@odata.id": f"{api.root}accounts({account})"}
    assert api.request("PUT", f"contacts({contact})/parentcustomerid_account/$ref",
                       json_body=single).status_code == 204
    assert api.row("contacts", contact)["_parentcustomerid_value"] == account
    assert api.delete(f"contacts({contact})/parentcustomerid_account/$ref").status_code == 204
    assert api.row("contacts", contact)["_parentcustomerid_value"] is None
    assert api.post(f"accounts({account})/contact_customer_accounts/$ref",
                    {"@odata.id": f"{api.root}accounts({account})"}).status_code == 400


def test_every_one_to_many_relationship_is_a_collection_navigation(local_dataverse, api):
    rels = api.get("RelationshipDefinitions/Microsoft.Dynamics.CRM.OneToManyRelationshipMetadata"
                   "?$select=ReferencedEntity,ReferencedEntityNavigationPropertyName").json()["value"]
    assert len(rels) > 20
    by_logical = local_dataverse.store.by_logical
    for rel in rels:
        table = by_logical[rel["ReferencedEntity"]]
        nav = rel["ReferencedEntityNavigationPropertyName"]
        resp = api.get(f"{table.entity_set}(00000000-0000-0000-0000-000000000001)/{nav}")
        assert resp.status_code == 404 and error_code(resp) == "0x80040217", (nav, resp.text)
    contract = api.create("w365_billingcontracts", {"w365_name": "C"})
    api.create("w365_subscriptions", {"w365_name": "S",
                                      "w365_BillingContract@odata.bind": f"/w365_billingcontracts({contract})"})
    subs = api.rows(f"w365_billingcontracts({contract})/"
                    "w365_billingcontract_w365_subscription_w365_billingcontract")
    assert [s["w365_name"] for s in subs] == ["S"]
