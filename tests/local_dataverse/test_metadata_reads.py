"""The metadata a client reads: service document, `$metadata` (CSDL an OData client loads),
`EntityDefinitions` and `RelationshipDefinitions` with `$select`/`$filter`/`$expand` and casts."""
from __future__ import annotations

import xml.etree.ElementTree as ET

import requests
from odata import ODataService

from .conftest import error_code

EDM = "{http://docs.oasis-open.org/odata/ns/edm}"


def test_the_service_document_lists_every_entity_set(api):
    body = api.get("").json()
    names = {s["name"] for s in body["value"]}
    assert {"accounts", "invoices", "w365_billingcontracts", "roles", "privileges"} <= names
    assert body["@odata.context"].endswith("/api/data/v9.2/$metadata")


def test_metadata_is_csdl_keyed_by_each_primary_id(api):
    resp = api.get("$metadata")
    assert resp.status_code == 200 and resp.headers["Content-Type"].startswith("application/xml")
    schema = ET.fromstring(resp.content).find(f".//{EDM}Schema")
    assert (schema.get("Namespace"), schema.get("Alias")) == ("Microsoft.Dynamics.CRM", "mscrm")
    types = {t.get("Name"): t for t in schema.findall(f"{EDM}EntityType")}
    assert {"account", "invoice", "w365_billingcontract", "invoicedetail"} <= set(types)
    for name, entity_type in types.items():
        (ref,) = entity_type.findall(f"{EDM}Key/{EDM}PropertyRef")
        assert ref.get("Name") == f"{name}id"
    invoice = {p.get("Name"): p.get("Type") for p in types["invoice"].findall(f"{EDM}Property")}
    assert invoice["totalamount"] == "Edm.Decimal" and invoice["w365_cyclestart"] == "Edm.Date"
    assert invoice["_customerid_value"] == "Edm.Guid"
    navs = {n.get("Name"): n.get("Type") for n in types["invoice"].findall(f"{EDM}NavigationProperty")}
    assert navs["invoice_details"] == "Collection(mscrm.invoicedetail)"
    assert navs["customerid_account"] == "mscrm.account"


def test_an_odata_client_loads_the_metadata_and_uses_it(local_dataverse):
    session = requests.Session()
    session.headers["Authorization"] = "Bearer local-dev-token"
    service = ODataService(local_dataverse.api_url, session=session, reflect_entities=True)
    Account = service.entities["accounts"]
    account = Account()
    account.name = "Reflected Ltd"
    service.save(account)
    found = service.query(Account).filter(Account.name == "Reflected Ltd").all()
    assert [a.name for a in found] == ["Reflected Ltd"] and found[0].accountid


def test_entity_definitions_select_and_filter(api):
    resp = api.get("EntityDefinitions?$select=LogicalName,EntitySetName,PrimaryIdAttribute"
                   "&$filter=startswith(LogicalName,'w365_')")
    assert resp.status_code == 200, resp.text
    rows = resp.json()["value"]
    assert {r["LogicalName"] for r in rows} >= {"w365_billingcontract", "w365_usagerecord"}
    assert all(set(r) == {"@odata.type", "MetadataId", "LogicalName", "EntitySetName",
                          "PrimaryIdAttribute"} for r in rows)
    one = api.get("EntityDefinitions(LogicalName='invoice')?$select=EntitySetName,"
                  "PrimaryNameAttribute").json()
    assert (one["EntitySetName"], one["PrimaryNameAttribute"]) == ("invoices", "name")
    by_id = api.get(f"EntityDefinitions({one['MetadataId']})?$select=LogicalName").json()
    assert by_id["LogicalName"] == "invoice"


def test_expand_attributes_and_keys_with_nested_options(api):
    resp = api.get("EntityDefinitions(LogicalName='w365_billingschedule')?$select=LogicalName"
                   "&$expand=Attributes($select=LogicalName,AttributeType;"
                   "$filter=AttributeType eq 'Lookup'),Keys($select=KeyAttributes)")
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert {a["LogicalName"] for a in body["Attributes"]} == {"w365_billingcontract", "w365_invoice"}
    assert [k["KeyAttributes"] for k in body["Keys"]] == [["w365_billingcontract", "w365_cyclestart"]]


def test_typed_attribute_casts_with_their_option_sets(api):
    path = ("EntityDefinitions(LogicalName='w365_billingcontract')/Attributes/"
            "Microsoft.Dynamics.CRM.PicklistAttributeMetadata")
    rows = api.get(path + "?$select=LogicalName&$expand=OptionSet").json()["value"]
    by_name = {r["LogicalName"]: r for r in rows}
    assert set(by_name) == {"w365_type", "w365_billingfrequency", "w365_billingpolicy",
                            "w365_prorateunit"}
    options = by_name["w365_billingfrequency"]["OptionSet"]["Options"]
    assert [(o["Value"], o["Label"]["UserLocalizedLabel"]["Label"]) for o in options] == [
        (1, "Monthly"), (3, "Quarterly"), (12, "Annual"), (36, "Triennial")]
    without = api.get(path + "?$select=LogicalName").json()["value"]
    assert all("OptionSet" not in r for r in without)
    one = api.get("EntityDefinitions(LogicalName='w365_billingcontract')/Attributes"
                  "(LogicalName='w365_type')/Microsoft.Dynamics.CRM.PicklistAttributeMetadata"
                  "?$select=LogicalName&$expand=OptionSet").json()
    assert len(one["OptionSet"]["Options"]) == 2


def test_relationship_definitions(api):
    rel = api.get("RelationshipDefinitions(SchemaName='invoice_details')").json()
    assert (rel["ReferencedEntity"], rel["ReferencingEntity"], rel["ReferencingAttribute"],
            rel["ReferencedEntityNavigationPropertyName"]) == (
        "invoice", "invoicedetail", "invoiceid", "invoice_details")
    many = api.get("RelationshipDefinitions/Microsoft.Dynamics.CRM.ManyToManyRelationshipMetadata"
                   "?$select=SchemaName").json()["value"]
    assert [r["SchemaName"] for r in many] == ["roleprivileges_association"]
    rels = api.get("EntityDefinitions(LogicalName='invoice')/OneToManyRelationships"
                   "?$select=SchemaName").json()["value"]
    assert "invoice_details" in {r["SchemaName"] for r in rels}


def test_bad_metadata_reads_are_4xx_in_dataverse_shape(api):
    cases = [
        ("EntityDefinitions(LogicalName='nosuch')", 404),
        ("EntityDefinitions?$select=NoSuchProperty", 400),
        ("EntityDefinitions?$filter=NoSuch eq 1", 400),
        ("EntityDefinitions?$filter=LogicalName eq", 400),
        ("EntityDefinitions?$expand=Nothing", 400),
        ("EntityDefinitions(LogicalName='account')/Nothing", 404),
        ("EntityDefinitions(LogicalName='account')/Attributes/Not.A.Type", 404),
        ("EntityDefinitions(bad key)", 400),
        ("RelationshipDefinitions(SchemaName='nosuch')", 404),
    ]
    for path, status in cases:
        resp = api.get(path)
        assert resp.status_code == status, (path, resp.status_code, resp.text)
        assert error_code(resp), path
    assert api.delete("EntityDefinitions(LogicalName='account')").status_code == 501
    assert api.delete("EntityDefinitions").status_code == 405
