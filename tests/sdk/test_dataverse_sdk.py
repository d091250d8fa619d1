"""Microsoft's Python SDK (`powerplatform-dataverse-client`) against the local Dataverse over TLS,
authenticated by a TokenCredential that gets client-credentials tokens from its authority."""
from __future__ import annotations

import time

import msal
import pytest
from azure.core.credentials import AccessToken

from PowerPlatform.Dataverse.client import DataverseClient
from PowerPlatform.Dataverse.core.errors import HttpError


class LocalCredential:
    """An azure-core TokenCredential backed by msal against the local Dataverse's authority."""

    def __init__(self, authority: str):
        self.app = msal.ConfidentialClientApplication(
            "local-client", client_credential="local-secret", authority=authority,
            instance_discovery=False)

    def get_token(self, *scopes: str, **_: object) -> AccessToken:
        result = self.app.acquire_token_for_client(scopes=list(scopes))
        return AccessToken(result["access_token"], int(time.time()) + int(result["expires_in"]))


@pytest.fixture
def sdk(tls_dataverse, trust_local_ca):
    with DataverseClient(tls_dataverse.url, LocalCredential(tls_dataverse.authority)) as client:
        yield client


def test_create_retrieve_update_delete(sdk, tls_dataverse):
    ident = sdk.records.create("account", {"name": "SDK Contoso", "telephone1": "555"})
    record = sdk.records.retrieve("account", ident, select=["name", "telephone1"])
    assert (record["name"], record["telephone1"]) == ("SDK Contoso", "555")
    sdk.records.update("account", ident, {"telephone1": "556"})
    assert sdk.records.retrieve("account", ident, select=["telephone1"])["telephone1"] == "556"
    sdk.records.delete("account", ident)
    assert sdk.records.retrieve("account", ident) is None  # the SDK's answer to a 404


def test_query_with_select_filter_orderby_top_and_paging(sdk):
    ids = sdk.records.create("contact", [{"fullname": f"SDK Person {i:02d}"} for i in range(7)])
    assert len(ids) == 7
    rows = list(sdk.records.list("contact", select=["fullname"],
                                 filter="startswith(fullname,'SDK Person')",
                                 orderby=["fullname desc"], top=3))
    assert [r["fullname"] for r in rows] == ["SDK Person 06", "SDK Person 05", "SDK Person 04"]
    pages = list(sdk.records.list_pages("contact", select=["fullname"],
                                        filter="startswith(fullname,'SDK Person')", page_size=3))
    assert [len(p) for p in pages] == [3, 3, 1]


def test_create_and_update_many(sdk):
    ids = sdk.records.create("account", [{"name": f"Bulk {i}"} for i in range(4)])
    sdk.records.update("account", ids, {"telephone1": "000"})
    rows = list(sdk.records.list("account", select=["telephone1"], filter="startswith(name,'Bulk ')"))
    assert len(rows) == 4 and {r["telephone1"] for r in rows} == {"000"}
    sdk.records.delete("account", ids, use_bulk_delete=False)
    assert list(sdk.records.list("account", filter="startswith(name,'Bulk ')")) == []


def test_batch_with_a_changeset(sdk):
    batch = sdk.batch.new()
    with batch.changeset() as changeset:
        account = changeset.records.create("account", {"name": "Batch Parent"})
        changeset.records.create("contact", {"fullname": "Batch Child",
                                             "parentcustomerid_account@odata.bind": account})
    result = batch.execute()
    assert not result.has_errors and len(result.succeeded) == 2 and len(result.entity_ids) == 2
    children = list(sdk.records.list("contact", select=["_parentcustomerid_value"],
                                     filter="fullname eq 'Batch Child'"))
    assert len(children) == 1 and children[0]["_parentcustomerid_value"]


def test_table_metadata(sdk):
    info = sdk.tables.get("account")
    assert (info.logical_name, info.entity_set_name) == ("account", "accounts")
    assert "invoice" in {t["LogicalName"] if isinstance(t, dict) else t.logical_name
                         for t in sdk.tables.list()}
    created = sdk.tables.create("new_Gadget", {"new_Size": "int", "new_Label": "string",
                                               "new_Weight": "decimal", "new_Ok": "bool"})
    assert created.entity_set_name == "new_gadgets"
    sdk.tables.add_columns("new_Gadget", {"new_Made": "date"})
    sdk.tables.create_alternate_key("new_gadget", "new_LabelKey", ["new_label"])
    keys = sdk.tables.get_alternate_keys("new_gadget")
    assert [k.key_attributes for k in keys] == [["new_label"]]
    ident = sdk.records.create("new_gadget", {"new_name": "g1", "new_size": 3, "new_label": "L1",
                                              "new_weight": 1.25, "new_ok": True,
                                              "new_made": "2026-01-31"})
    row = sdk.records.retrieve("new_gadget", ident, select=["new_size", "new_made", "new_ok"])
    assert (row["new_size"], row["new_made"], row["new_ok"]) == (3, "2026-01-31", True)
    columns = {c.logical_name if hasattr(c, "logical_name") else c["LogicalName"]
               for c in sdk.tables.list_columns("new_gadget")}
    assert {"new_size", "new_label", "new_made", "new_gadgetid"} <= columns


def test_what_the_local_dataverse_refuses_is_an_http_error_not_wrong_rows(sdk):
    with pytest.raises(HttpError) as sql:
        sdk.query.sql("SELECT name FROM account")
    assert sql.value.status_code == 501
    with pytest.raises(HttpError) as fetch:
        sdk.query.fetchxml('<fetch top="1"><entity name="account"/></fetch>').execute()
    assert fetch.value.status_code == 501
    ids = sdk.records.create("account", [{"name": "Bulk delete"}])
    with pytest.raises(HttpError) as bulk:
        sdk.records.delete("account", ids + ids, use_bulk_delete=True)
    assert bulk.value.status_code == 501


def test_upsert_by_alternate_key_and_a_lookup_made_through_the_sdk(sdk):
    from PowerPlatform.Dataverse.models.upsert import UpsertItem

    for name in ("first", "second"):
        sdk.records.upsert("w365_invoicerun", [UpsertItem(alternate_key={"w365_runkey": "sdk-key"},
                                                          record={"w365_name": name})])
    rows = list(sdk.records.list("w365_invoicerun", select=["w365_name"],
                                 filter="w365_runkey eq 'sdk-key'"))
    assert [r["w365_name"] for r in rows] == ["second"]
    sdk.tables.create("new_Widget", {"new_Qty": "int"})
    rel = sdk.tables.create_lookup_field("new_widget", "new_AccountId", "account")
    assert sdk.tables.get_relationship(rel.relationship_schema_name).referencing_entity == "new_widget"
    account = sdk.records.create("account", {"name": "Widget owner"})
    widget = sdk.records.create("new_widget", {"new_name": "w",
                                               "new_AccountId@odata.bind": f"/accounts({account})"})
    assert sdk.records.retrieve("new_widget", widget)["_new_accountid_value"] == account
    with pytest.raises(HttpError) as dropped:
        sdk.tables.delete("new_Widget")
    assert dropped.value.status_code == 501  # metadata deletes are not implemented locally
