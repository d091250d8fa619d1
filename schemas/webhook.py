"""The Dataverse webhook body (`RemoteExecutionContext`, docs/interfaces.md) as marshmallow schemas.

Dataverse serialises with WCF DataContract JSON: parameter collections are lists of `{key, value}`
(normalised here to dicts), typed values carry `__type` (EntityReference, Entity, OptionSetValue,
Money, EntityCollection), dates are `/Date(ms±hhmm)/`. Unknown keys are tolerated; Guids stay strings.
"""
from __future__ import annotations

import json
import re
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

from marshmallow import EXCLUDE, Schema, ValidationError, fields, post_load, pre_load, validate, validates_schema

from plugin.engine.change_log import change_log_key, parse_change_log_key

_WCF_DATE = re.compile(r"^/Date\((-?\d+)([+-]\d{4})?\)/$")
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
ON_EXISTING_CHOICES = ("create_additional", "skip")
ROW_KINDS = ("cycle", "change_log")


@dataclass(frozen=True)
class EntityReference:
    """A lookup value: table logical name, row id and (maybe) its primary name."""

    logical_name: str | None
    id: str | None
    name: str | None = None


@dataclass(frozen=True)
class Entity:
    """A row value: logical name, id and its attributes (decoded)."""

    logical_name: str | None
    id: str | None
    attributes: dict[str, Any] = field(default_factory=dict)
    formatted_values: dict[str, Any] = field(default_factory=dict)


def parse_wcf_date(text: str) -> datetime | None:
    """`/Date(1506409448000-0700)/` -> an aware UTC datetime (the offset is display-only); else None."""
    match = _WCF_DATE.match(text)
    if not match:
        return None
    try:
        return _EPOCH + timedelta(milliseconds=int(match.group(1)))
    except (OverflowError, ValueError):  # beyond datetime's years 1..9999: not a date
        return None


def is_key_value_list(value: Any) -> bool:
    """True for a non-empty list of `{key, value}` objects (a DataContract dictionary)."""
    return (isinstance(value, list) and bool(value)
            and all(isinstance(item, dict) and "key" in item and "value" in item for item in value))


def key_value_dict(items: list[dict[str, Any]]) -> dict[str, Any]:
    """A `[{key, value}]` list as a dict with decoded values."""
    return {str(item["key"]): decode_value(item["value"]) for item in items}


def decode_value(value: Any) -> Any:
    """Decode one DataContract JSON value into Python values (Decimal, datetime, dataclasses)."""
    if isinstance(value, str):
        date = parse_wcf_date(value)
        return date if date is not None else value
    if isinstance(value, float):
        return Decimal(str(value))
    if isinstance(value, list):
        return key_value_dict(value) if is_key_value_list(value) else [decode_value(v) for v in value]
    if not isinstance(value, dict):
        return value
    kind = str(value.get("__type", "")).split(":", 1)[0]
    if kind == "EntityReference":
        return EntityReference(value.get("LogicalName"), _guid_or_none(value.get("Id")), value.get("Name"))
    if kind == "Entity":
        return Entity(value.get("LogicalName"), _guid_or_none(value.get("Id")),
                      _kv(value.get("Attributes")), _kv(value.get("FormattedValues")))
    if kind in ("OptionSetValue", "Money"):
        return decode_value(value.get("Value"))
    if kind == "EntityCollection":
        return [decode_value(e) for e in value.get("Entities") or []]
    return {k: decode_value(v) for k, v in value.items() if k != "__type"}


def _kv(value: Any) -> dict[str, Any]:
    return key_value_dict(value) if is_key_value_list(value) else {}


def _guid_or_none(value: Any) -> str | None:
    return str(value).lower() if value else None


def is_guid(value: Any) -> bool:
    """True for a canonical GUID string (with or without braces)."""
    try:
        uuid.UUID(str(value).strip("{}"))
    except (ValueError, AttributeError, TypeError):
        return False
    return len(str(value).strip("{}")) == 36


def normalise_guid(value: str) -> str:
    """A GUID string as Dataverse prints it: lower case, no braces."""
    return str(uuid.UUID(str(value).strip("{}")))


class GuidString(fields.String):
    """A GUID kept as a canonical lower-case string."""

    default_error_messages = {"invalid_guid": "Not a valid GUID."}

    def _deserialize(self, value, attr, data, **kwargs):
        text = super()._deserialize(value, attr, data, **kwargs)
        if not is_guid(text):
            raise self.make_error("invalid_guid")
        return normalise_guid(text)


class KeyValueList(fields.Field):
    """A DataContract dictionary (`[{key, value}]`) loaded as a dict of decoded values."""

    default_error_messages = {"invalid": "Not a list of {{key, value}} objects."}
    OPENAPI = {"type": "array", "items": {"type": "object", "required": ["key", "value"],
                                          "properties": {"key": {"type": "string"}, "value": {}}}}

    def __init__(self, **kwargs: Any):
        super().__init__(**{"metadata": self.OPENAPI, **kwargs})

    def _deserialize(self, value, attr, data, **kwargs):
        if value is None or value == []:
            return {}
        if isinstance(value, dict):  # tolerate an already-normalised object
            return {str(k): decode_value(v) for k, v in value.items()}
        if not is_key_value_list(value):
            raise self.make_error("invalid")
        return key_value_dict(value)


class WcfDateTime(fields.Field):
    """A `/Date(ms±hhmm)/` string as an aware UTC datetime."""

    default_error_messages = {"invalid": "Not a /Date(ms)/ value."}

    def __init__(self, **kwargs: Any):
        super().__init__(**{"metadata": {"type": "string", "example": "/Date(1735689600000)/"}, **kwargs})

    def _deserialize(self, value, attr, data, **kwargs):
        parsed = parse_wcf_date(value) if isinstance(value, str) else None
        if parsed is None:
            raise self.make_error("invalid")
        return parsed


class DecodedValue(fields.Field):
    """Any DataContract value, decoded (EntityReference, Entity, ...)."""

    def _deserialize(self, value, attr, data, **kwargs):
        return decode_value(value)


@dataclass(frozen=True)
class ExecutionContext:
    """The parts of a RemoteExecutionContext the service uses (the rest is kept in `raw`)."""

    message_name: str
    correlation_id: str | None
    initiating_user_id: str | None
    user_id: str | None
    input_parameters: dict[str, Any]
    organization_name: str | None = None
    operation_created_on: datetime | None = None
    depth: int | None = None
    mode: int | None = None
    stage: int | None = None
    primary_entity_name: str | None = None
    primary_entity_id: str | None = None
    request_id: str | None = None
    parent_context: "ExecutionContext | None" = None


class RemoteExecutionContextSchema(Schema):
    """The webhook body Dataverse posts (Dataverse's RemoteExecutionContext)."""

    class Meta:
        unknown = EXCLUDE

    message_name = fields.String(data_key="MessageName", required=True, validate=validate.Length(min=1))
    correlation_id = GuidString(data_key="CorrelationId", allow_none=True, load_default=None)
    initiating_user_id = GuidString(data_key="InitiatingUserId", allow_none=True, load_default=None)
    user_id = GuidString(data_key="UserId", allow_none=True, load_default=None)
    business_unit_id = GuidString(data_key="BusinessUnitId", allow_none=True, load_default=None)
    organization_id = GuidString(data_key="OrganizationId", allow_none=True, load_default=None)
    organization_name = fields.String(data_key="OrganizationName", allow_none=True, load_default=None)
    operation_id = GuidString(data_key="OperationId", allow_none=True, load_default=None)
    request_id = GuidString(data_key="RequestId", allow_none=True, load_default=None)
    operation_created_on = WcfDateTime(data_key="OperationCreatedOn", allow_none=True, load_default=None)
    depth = fields.Integer(data_key="Depth", allow_none=True, load_default=None, strict=True)
    mode = fields.Integer(data_key="Mode", allow_none=True, load_default=None, strict=True)
    stage = fields.Integer(data_key="Stage", allow_none=True, load_default=None, strict=True)
    primary_entity_name = fields.String(data_key="PrimaryEntityName", allow_none=True, load_default=None)
    primary_entity_id = GuidString(data_key="PrimaryEntityId", allow_none=True, load_default=None)
    input_parameters = KeyValueList(data_key="InputParameters", allow_none=True, load_default=dict)
    output_parameters = KeyValueList(data_key="OutputParameters", allow_none=True, load_default=dict)
    shared_variables = KeyValueList(data_key="SharedVariables", allow_none=True, load_default=dict)
    pre_entity_images = KeyValueList(data_key="PreEntityImages", allow_none=True, load_default=dict)
    post_entity_images = KeyValueList(data_key="PostEntityImages", allow_none=True, load_default=dict)
    owning_extension = DecodedValue(data_key="OwningExtension", allow_none=True, load_default=None)
    parent_context = fields.Nested(lambda: RemoteExecutionContextSchema(), data_key="ParentContext",
                                   allow_none=True, load_default=None)

    @post_load
    def _make(self, data: dict[str, Any], **kwargs) -> ExecutionContext:
        return ExecutionContext(
            message_name=data["message_name"], correlation_id=data["correlation_id"],
            initiating_user_id=data["initiating_user_id"], user_id=data["user_id"],
            input_parameters=data["input_parameters"] or {},
            organization_name=data["organization_name"],
            operation_created_on=data["operation_created_on"], depth=data["depth"], mode=data["mode"],
            stage=data["stage"], primary_entity_name=data["primary_entity_name"],
            primary_entity_id=data["primary_entity_id"], request_id=data["request_id"],
            parent_context=data["parent_context"],
        )


def _param_guid(value: Any) -> Any:
    return value.id if isinstance(value, EntityReference) else value


def _blank_as_absent(data: Any, *names: str) -> Any:
    """An empty optional String parameter means "not given" (a command script may send "")."""
    if not isinstance(data, dict):
        return data
    return {k: None if k in names and v == "" else v for k, v in data.items()}


class GenerateInvoiceParamsSchema(Schema):
    """`w365_GenerateInvoice` InputParameters: BillingContractId (required), Cycle, OnExisting."""

    class Meta:
        unknown = EXCLUDE

    billing_contract_id = GuidString(data_key="BillingContractId", required=True)
    cycle = fields.String(data_key="Cycle", allow_none=True, load_default=None)
    on_existing = fields.String(data_key="OnExisting", allow_none=True, load_default=None,
                                validate=validate.OneOf(ON_EXISTING_CHOICES))

    @pre_load
    def _guid_values(self, data: Any, **kwargs) -> Any:
        """A Guid parameter arrives as a plain string (or, defensively, an EntityReference)."""
        data = _blank_as_absent(data, "Cycle", "OnExisting")
        return {k: _param_guid(v) for k, v in data.items()} if isinstance(data, dict) else data

    @validates_schema
    def _no_change_log(self, data: dict[str, Any], **kwargs) -> None:
        if parse_change_log_key(data.get("cycle")) is not None:
            raise ValidationError("change logs go through w365_GenerateInvoices rows (kind, asOf)", "Cycle")


class _RowSchema(Schema):
    class Meta:
        unknown = EXCLUDE

    billing_contract_id = GuidString(data_key="billingContractId", required=True)
    cycle = fields.String(allow_none=True, load_default=None)
    trigger_post_invoicing_tasks = fields.Boolean(data_key="triggerPostInvoicingTasks", load_default=False)
    kind = fields.String(load_default="cycle", validate=validate.OneOf(ROW_KINDS))
    as_of = fields.Date(data_key="asOf", allow_none=True, load_default=None)

    @validates_schema
    def _change_log(self, data: dict[str, Any], **kwargs) -> None:
        """A change-log row names its as-of date and no cycle (a future date fails the row, not the call)."""
        if data.get("kind") != "change_log":
            if parse_change_log_key(data.get("cycle")) is not None:
                raise ValidationError('a change-log row has "kind": "change_log" and asOf', "cycle")
            return
        if data.get("cycle") is not None:
            raise ValidationError("a change-log row takes no cycle", "cycle")
        if data.get("as_of") is None:
            raise ValidationError("a change-log row needs asOf", "asOf")

    @post_load
    def _change_log_key(self, data: dict[str, Any], **kwargs) -> dict[str, Any]:
        if data.pop("kind") == "change_log":
            data["cycle"] = change_log_key(data["as_of"])
        data.pop("as_of", None)
        return data


class GenerateInvoicesParamsSchema(Schema):
    """`w365_GenerateInvoices` InputParameters: RunId and Rows (JSON) or BillingContractIds + flag."""

    class Meta:
        unknown = EXCLUDE

    run_id = fields.String(data_key="RunId", required=True, validate=validate.Length(min=1, max=100))
    rows = fields.String(data_key="Rows", allow_none=True, load_default=None)
    billing_contract_ids = fields.List(GuidString(), data_key="BillingContractIds", allow_none=True,
                                       load_default=None)
    trigger_post_invoicing_tasks = fields.Boolean(data_key="TriggerPostInvoicingTasks", allow_none=True,
                                                  load_default=False)
    on_existing = fields.String(data_key="OnExisting", allow_none=True, load_default=None,
                                validate=validate.OneOf(ON_EXISTING_CHOICES))

    @pre_load
    def _blank_options(self, data: Any, **kwargs) -> Any:
        return _blank_as_absent(data, "OnExisting")

    @validates_schema
    def _rows_json(self, data: dict[str, Any], **kwargs) -> None:
        if data.get("rows"):
            parse_rows_json(data["rows"])

    @post_load
    def _normalise(self, data: dict[str, Any], **kwargs) -> dict[str, Any]:
        """`rows`: the requested rows (list of dicts) or None when the payload carried none."""
        if data.get("rows"):
            data["rows"] = parse_rows_json(data["rows"])
        elif data.get("billing_contract_ids"):
            flag = bool(data.get("trigger_post_invoicing_tasks"))
            data["rows"] = [{"billing_contract_id": cid, "cycle": None, "trigger_post_invoicing_tasks": flag}
                            for cid in data["billing_contract_ids"]]
        else:
            data["rows"] = None
        return data


def _load_json(text: str) -> Any:
    try:
        value = json.loads(text, parse_float=Decimal)
    except (TypeError, ValueError, RecursionError) as exc:
        raise ValidationError({"Rows": ["Not valid JSON."]}) from exc
    if not is_valid_unicode(value):
        raise ValidationError({"Rows": ["Not valid JSON: a \\u escape is an unpaired surrogate."]})
    return value


def parse_rows_json(text: str) -> list[dict[str, Any]]:
    """The `Rows` parameter (or a run's `w365_requestjson`): a JSON array of row objects."""
    rows = _load_json(text)
    if not isinstance(rows, list):
        raise ValidationError({"Rows": ["Not a JSON array."]})
    return _RowSchema(many=True).load(rows)


def parse_request_json(text: str) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """A run's `w365_requestjson`: its rows, and the run-wide options the service keeps with them.

    The command script writes a JSON array of rows; the service writes `{"rows": [...],
    "onExisting"?, "asOf"?}` when a run has options."""
    value = _load_json(text)
    if isinstance(value, dict):
        rows = value.get("rows")
        options = {k: value[k] for k in ("onExisting", "asOf") if isinstance(value.get(k), str)}
        if not isinstance(rows, list):
            raise ValidationError({"Rows": ["Not a JSON array."]})
        return _RowSchema(many=True).load(rows), options
    if not isinstance(value, list):
        raise ValidationError({"Rows": ["Not a JSON array."]})
    return _RowSchema(many=True).load(value), {}


def is_valid_unicode(value: Any) -> bool:
    """Whether every string of a parsed JSON value can be encoded (JSON allows unpaired surrogate escapes)."""
    try:
        json.dumps(value, ensure_ascii=False, default=str).encode("utf-8")
    except (UnicodeEncodeError, RecursionError):
        return False
    return True
