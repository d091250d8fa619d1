"""schemas.webhook: RemoteExecutionContext parsing (research/dataverse-platform.md §1.3, §1.6)."""
from __future__ import annotations

import json
from datetime import datetime, timezone
from decimal import Decimal

import pytest
from marshmallow import ValidationError

from schemas.webhook import (Entity, EntityReference, GenerateInvoiceParamsSchema, GenerateInvoicesParamsSchema,
                             RemoteExecutionContextSchema, decode_value, parse_wcf_date)

SAMPLE = r'''{
  "BusinessUnitId": "1F8F1C2A-0000-0000-0000-000000000001",
  "CorrelationId": "9d2e6a4c-1f0b-4c1e-9a57-0c6f2b1e8a11",
  "Depth": 1,
  "InitiatingUserId": "{5a1b7c3d-0000-0000-0000-0000000000aa}",
  "InputParameters": [
    { "key": "RunId",       "value": "0b6f7e0e-4c7a-4f41-8d3e-2f9b9b1c0d55" },
    { "key": "Rows", "value": "[{\"billingContractId\":\"3f0c2a10-0000-0000-0000-000000000011\",\"triggerPostInvoicingTasks\":true}]" },
    { "key": "Target", "value": {
        "__type": "Entity:http://schemas.microsoft.com/xrm/2011/Contracts",
        "LogicalName": "new_billingschedule", "Id": "3f0c2a10-0000-0000-0000-000000000011",
        "Attributes": [
          { "key": "new_status", "value": { "__type": "OptionSetValue:http://schemas.microsoft.com/xrm/2011/Contracts", "Value": 100000001 } },
          { "key": "new_amount", "value": { "__type": "Money:http://schemas.microsoft.com/xrm/2011/Contracts", "Value": 1200.10 } },
          { "key": "new_periodstart", "value": "\/Date(1735689600000)\/" },
          { "key": "new_contract", "value": { "__type": "EntityReference:http://schemas.microsoft.com/xrm/2011/Contracts",
              "Id": "9a8b7c6d-0000-0000-0000-000000000021", "KeyAttributes": [], "LogicalName": "new_billingcontract",
              "Name": "Contoso", "RowVersion": null } }
        ],
        "EntityState": null, "FormattedValues": [], "KeyAttributes": [], "RelatedEntities": [], "RowVersion": null } }
  ],
  "IsExecutingOffline": false, "IsInTransaction": true, "IsOfflinePlayback": false, "IsolationMode": 1,
  "MessageName": "w365_GenerateInvoices", "Mode": 0,
  "OperationCreatedOn": "\/Date(1506409448000-0700)\/",
  "OperationId": "00000000-0000-0000-0000-000000000000",
  "OrganizationId": "7c9e6679-0000-0000-0000-0000000000cc", "OrganizationName": "contoso",
  "OutputParameters": [],
  "OwningExtension": { "Id": "e2a4c6f8-0000-0000-0000-0000000000dd", "KeyAttributes": [],
                       "LogicalName": "sdkmessageprocessingstep", "Name": null, "RowVersion": null },
  "ParentContext": { "MessageName": "Create", "InputParameters": [], "Stage": 30 },
  "PostEntityImages": [], "PreEntityImages": [],
  "PrimaryEntityId": "00000000-0000-0000-0000-000000000000", "PrimaryEntityName": "none",
  "RequestId": null, "SecondaryEntityName": "none",
  "SharedVariables": [{"key": "x", "value": "y", "__type": "KeyValuePairOfstringanyType:#System.Collections.Generic"}],
  "Stage": 40, "UserId": "5a1b7c3d-0000-0000-0000-0000000000aa", "BrandNewKey": 1
}'''


def load(text=SAMPLE):
    return RemoteExecutionContextSchema().load(json.loads(text, parse_float=Decimal))


def test_sample_context_is_normalised():
    ctx = load()
    assert ctx.message_name == "w365_GenerateInvoices"
    assert ctx.initiating_user_id == "5a1b7c3d-0000-0000-0000-0000000000aa"  # braces gone, lower case
    assert ctx.correlation_id == "9d2e6a4c-1f0b-4c1e-9a57-0c6f2b1e8a11"
    assert ctx.operation_created_on == datetime(2017, 9, 26, 7, 4, 8, tzinfo=timezone.utc)
    assert ctx.parent_context.message_name == "Create" and ctx.parent_context.stage == 30
    target = ctx.input_parameters["Target"]
    assert isinstance(target, Entity) and target.logical_name == "new_billingschedule"
    assert target.attributes["new_status"] == 100000001
    assert target.attributes["new_amount"] == Decimal("1200.10")
    assert target.attributes["new_periodstart"] == datetime(2025, 1, 1, tzinfo=timezone.utc)
    assert target.attributes["new_contract"] == EntityReference("new_billingcontract",
                                                                "9a8b7c6d-0000-0000-0000-000000000021", "Contoso")
    assert ctx.input_parameters["RunId"] == "0b6f7e0e-4c7a-4f41-8d3e-2f9b9b1c0d55"


@pytest.mark.parametrize("text, expected", [
    ("/Date(0)/", datetime(1970, 1, 1, tzinfo=timezone.utc)),
    ("/Date(-86400000)/", datetime(1969, 12, 31, tzinfo=timezone.utc)),
    ("/Date(1735689600000+0100)/", datetime(2025, 1, 1, tzinfo=timezone.utc)),
    ("Date(1)", None), ("/Date(abc)/", None), ("2025-01-01", None),
])
def test_wcf_dates(text, expected):
    assert parse_wcf_date(text) == expected


def test_values_decode_recursively():
    assert decode_value([{"key": "a", "value": [{"key": "b", "value": 1.5}]}]) == {"a": {"b": Decimal("1.5")}}
    assert decode_value(["x", "y"]) == ["x", "y"]  # a StringArray stays a list
    assert decode_value({"__type": "EntityCollection:x", "Entities": [
        {"__type": "Entity:x", "LogicalName": "account", "Id": "ABC", "Attributes": []}]}) == [
        Entity("account", "abc", {}, {})]
    assert decode_value({"__type": "Unknown:x", "Value": 1}) == {"Value": 1}


@pytest.mark.parametrize("change", [
    {"MessageName": None}, {"MessageName": ""}, {"CorrelationId": "nope"}, {"Depth": "1"},
    {"InputParameters": [{"key": "a"}]}, {"InputParameters": 5}, {"OperationCreatedOn": "2025-01-01"},
    {"ParentContext": "x"},
])
def test_malformed_contexts_raise(change):
    body = {**json.loads(SAMPLE), **change}
    with pytest.raises(ValidationError):
        RemoteExecutionContextSchema().load(body)


def test_generate_invoice_params():
    schema = GenerateInvoiceParamsSchema()
    assert schema.load({"BillingContractId": "9A8B7C6D-0000-0000-0000-000000000021", "Cycle": ""}) == {
        "billing_contract_id": "9a8b7c6d-0000-0000-0000-000000000021", "cycle": None, "on_existing": None}
    ref = EntityReference("w365_billingcontract", "9a8b7c6d-0000-0000-0000-000000000021")
    assert schema.load({"BillingContractId": ref, "OnExisting": "skip"})["on_existing"] == "skip"
    for bad in ({}, {"BillingContractId": "x"}, {"BillingContractId": ref.id, "OnExisting": "replace"}):
        with pytest.raises(ValidationError):
            schema.load(bad)


def test_generate_invoices_params():
    ctx = load()
    params = GenerateInvoicesParamsSchema().load(ctx.input_parameters)
    assert params["rows"] == [{"billing_contract_id": "3f0c2a10-0000-0000-0000-000000000011", "cycle": None,
                               "trigger_post_invoicing_tasks": True}]
    ids = GenerateInvoicesParamsSchema().load({"RunId": "r", "BillingContractIds": ["3F0C2A10-0000-0000-0000-000000000011"],
                                               "TriggerPostInvoicingTasks": True})
    assert ids["rows"][0]["trigger_post_invoicing_tasks"] is True
    assert GenerateInvoicesParamsSchema().load({"RunId": "r"})["rows"] is None  # stripped: read the run row
    for bad in ({}, {"RunId": "r", "Rows": "not json"}, {"RunId": "r", "Rows": "{}"},
                {"RunId": "r", "Rows": '[{"cycle": "2026-01-01"}]'}):
        with pytest.raises(ValidationError):
            GenerateInvoicesParamsSchema().load(bad)
