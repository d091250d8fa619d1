"""Whatever a client sends to the metadata API and the platform actions, the answer is Dataverse's
error shape or a success, never a 500 — and a refused change leaves the metadata as it was."""
from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from connectors.dataverse import metadata_shapes as m
from connectors.local_dataverse import create_app

AUTH = {"Authorization": "Bearer local-dev-token", "Content-Type": "application/json"}
PATHS = [
    "EntityDefinitions", "EntityDefinitions(LogicalName='account')/Attributes",
    "EntityDefinitions(LogicalName='account')/Keys", "RelationshipDefinitions", "CreateEntities",
]
_scalars = st.one_of(st.none(), st.booleans(), st.integers(-5, 5), st.text(max_size=8),
                     st.sampled_from(["new_X", "account", "String", "Lookup", "Picklist",
                                      "Microsoft.Dynamics.CRM.StringAttributeMetadata"]))
_json = st.recursive(_scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=3),
    st.dictionaries(st.sampled_from(["SchemaName", "Attributes", "AttributeType", "@odata.type",
                                     "IsPrimaryName", "KeyAttributes", "Lookup", "OptionSet",
                                     "Options", "Value", "ReferencedEntity", "ReferencingEntity",
                                     "Entities", "Privileges", "PrivilegeId", "Depth", "Targets"]),
                    inner, max_size=5)), max_leaves=12)
# valid-looking bodies with one part broken, so the checks deep inside are reached too
_mutated = st.builds(
    lambda body, key, value: {**body, key: value},
    st.sampled_from([
        m.entity("new_Fuzz", "new_fuzzs", [m.string("new_name", primary=True)]),
        m.picklist("new_Pick", {1: "a"}), m.key("new_k", ["name"]),
        m.one_to_many("new_rel", "account", "contact", m.lookup("new_Acc", ["account"])),
        {"Entities": [m.entity("new_Fuzz2", "new_fuzz2s", [m.string("new_name", primary=True)])]},
    ]),
    st.sampled_from(["SchemaName", "Attributes", "OptionSet", "KeyAttributes", "Lookup",
                     "ReferencedEntity", "@odata.type", "Entities", "EntitySetName"]),
    _json)


@pytest.fixture(scope="module")
def client():
    app = create_app()
    yield app.test_client()
    app.extensions["local_dataverse"].store.close()


def _metadata(client) -> str:
    return client.get("/api/data/v9.2/EntityDefinitions?$expand=Attributes($select=LogicalName),Keys",
                      headers=AUTH).get_data(as_text=True)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(path=st.sampled_from(PATHS), body=st.one_of(_json, _mutated))
def test_metadata_writes_never_fail_with_500(client, path, body):
    before = _metadata(client)
    resp = client.post(f"/api/data/v9.2/{path}", data=json.dumps(body), headers=AUTH)
    assert resp.status_code < 500 or resp.status_code == 501, resp.get_data(as_text=True)
    if resp.status_code >= 400:
        assert json.loads(resp.get_data())["error"]["message"]
        assert _metadata(client) == before


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=_json)
def test_add_privileges_role_never_fails_with_500(client, body):
    role = client.post("/api/data/v9.2/roles", data=json.dumps({"name": "fuzz"}), headers=AUTH)
    role_id = role.headers["OData-EntityId"].rsplit("(", 1)[1].rstrip(")")
    resp = client.post(f"/api/data/v9.2/roles({role_id})/Microsoft.Dynamics.CRM.AddPrivilegesRole",
                       data=json.dumps(body), headers=AUTH)
    assert resp.status_code < 500 or resp.status_code == 501, resp.get_data(as_text=True)


@pytest.mark.parametrize("names", [{"EntitySetName": ["w365_lists"]}, {"EntitySetName": None},
                                   {"LogicalName": 7}, {"CollectionSchemaName": {"x": 1}},
                                   {"LogicalName": "other_name"}])
def test_entity_names_of_the_wrong_type_are_400_and_change_nothing(names):
    from connectors.local_dataverse.app import create_app

    client = create_app().test_client()
    headers = {"Authorization": "Bearer local-dev-token", "Content-Type": "application/json"}
    body = {"@odata.type": "Microsoft.Dynamics.CRM.EntityMetadata", "SchemaName": "w365_Fuzzed",
            "Attributes": [{"@odata.type": "Microsoft.Dynamics.CRM.StringAttributeMetadata",
                            "SchemaName": "w365_Name", "IsPrimaryName": True, "MaxLength": 100}], **names}
    answer = client.post("/api/data/v9.2/EntityDefinitions", json=body, headers=headers)
    if names == {"EntitySetName": None}:  # null means "the default", as Dataverse reads it
        assert answer.status_code == 204
        assert client.get("/api/data/v9.2/w365_fuzzeds", headers=headers).status_code == 200
    else:
        assert answer.status_code == 400, answer.get_data(as_text=True)
    assert client.get("/api/data/v9.2/EntityDefinitions?$select=LogicalName", headers=headers).status_code == 200
