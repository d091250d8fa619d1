"""Bulk window and invoice-run schemas (docs/interfaces.md): `/bulk/rows`, `/invoice-runs`."""
from __future__ import annotations

from typing import Any

from marshmallow import Schema, fields, post_load, validate, validates_schema

from schemas.api import (AS_OF_RANGE, CYCLE_KEY, KIND_DESCRIPTION, KINDS, AutomationsSchema, CurrencySchema,
                         CycleSchema, RowResultSchema, StrictSchema, change_log_as_cycle, check_change_log)
from schemas.webhook import ON_EXISTING_CHOICES, GuidString, is_guid, normalise_guid

MAX_BULK_IDS = 5000
MAX_RUN_ROWS = 10000
RUN_SOURCES = ("api", "page", "cli")


class IdList(fields.Field):
    """Contract ids as a comma-separated string (query) or a JSON array (body): canonical GUIDs, in order."""

    default_error_messages = {
        "invalid": "Expected a comma-separated string or a list of GUIDs.",
        "empty": "At least one id is required.",
        "too_many": f"At most {MAX_BULK_IDS} ids.",
        "invalid_guid": "Not a valid GUID: {value}.",
    }

    def _deserialize(self, value, attr, data, **kwargs):
        if isinstance(value, str):
            items = [part.strip() for part in value.split(",") if part.strip()]
        elif isinstance(value, list) and all(isinstance(v, str) for v in value):
            items = [v.strip() for v in value]
        else:
            raise self.make_error("invalid")
        if not items:
            raise self.make_error("empty")
        if len(items) > MAX_BULK_IDS:
            raise self.make_error("too_many")
        for item in items:
            if not is_guid(item):
                raise self.make_error("invalid_guid", value=item[:60])
        return list(dict.fromkeys(normalise_guid(i) for i in items))


class BulkRowsQuerySchema(StrictSchema):
    """`GET /bulk/rows?ids=a,b,…` (and `as_of`)."""

    ids = IdList(required=True, metadata={"type": "string",
                                          "description": "comma-separated GUIDs (or the key repeated)"})
    as_of = fields.Date(load_default=None, validate=AS_OF_RANGE)


class BulkRowsBodySchema(StrictSchema):
    """`POST /bulk/rows {ids, as_of?}`."""

    ids = IdList(required=True, metadata={"type": "array", "items": {"type": "string", "format": "uuid"},
                                          "minItems": 1, "maxItems": MAX_BULK_IDS})
    as_of = fields.Date(allow_none=True, load_default=None, validate=AS_OF_RANGE)


class BulkRowSchema(Schema):
    billing_contract_id = fields.String(required=True)
    name = fields.String(required=True)
    cycles = fields.List(fields.Nested(CycleSchema), required=True)
    default_cycle = fields.String(allow_none=True, required=True)
    automations = fields.Nested(AutomationsSchema, required=True)
    currency = fields.Nested(CurrencySchema, required=True,
                             metadata={"description": "the contract's currency (formats invoice totals)"})
    change_log = fields.Boolean(required=True, metadata={
        "description": "whether the row may choose a change log (Recurring, cycles of 3 months or more)"})


class BulkRowErrorSchema(Schema):
    billing_contract_id = fields.String(required=True)
    message = fields.String(required=True)


class BulkRowsResponseSchema(Schema):
    rows = fields.List(fields.Nested(BulkRowSchema), required=True)
    not_found = fields.List(fields.String(), required=True,
                            metadata={"description": "requested ids that name no billing contract"})
    errors = fields.List(fields.Nested(BulkRowErrorSchema), required=True,
                         metadata={"description": "contracts that exist but could not be read"})


class RunRowRequestSchema(StrictSchema):
    billing_contract_id = GuidString(required=True)
    cycle = fields.String(allow_none=True, load_default=None, validate=CYCLE_KEY)
    trigger_post_invoicing_tasks = fields.Boolean(required=True)
    kind = fields.String(load_default="cycle", validate=validate.OneOf(KINDS),
                         metadata={"description": KIND_DESCRIPTION})
    as_of = fields.Date(allow_none=True, load_default=None, validate=AS_OF_RANGE,
                        metadata={"description": "a change log's as-of date (the run's as_of does not apply)"})

    @validates_schema
    def _change_log(self, data: dict[str, Any], **kwargs) -> None:
        check_change_log(data)

    @post_load
    def _change_log_key(self, data: dict[str, Any], **kwargs) -> dict[str, Any]:
        return change_log_as_cycle(data)


class CreateRunRequestSchema(StrictSchema):
    """`POST /invoice-runs`."""

    rows = fields.List(fields.Nested(RunRowRequestSchema), required=True,
                       validate=validate.Length(min=1, max=MAX_RUN_ROWS))
    on_existing = fields.String(allow_none=True, load_default=None, validate=validate.OneOf(ON_EXISTING_CHOICES))
    as_of = fields.Date(allow_none=True, load_default=None, validate=AS_OF_RANGE)
    source = fields.String(allow_none=True, load_default=None, validate=validate.OneOf(RUN_SOURCES),
                           metadata={"description": "recorded as w365_source; api when omitted"})


class WaitQuerySchema(StrictSchema):
    """`?wait=S`: wait up to S seconds for the run to finish."""

    wait = fields.Float(load_default=None, validate=validate.Range(min=0, max=300))


class RunListQuerySchema(StrictSchema):
    """`GET /invoice-runs?status=&top=`: the caller's runs, newest first."""

    status = fields.String(load_default=None,
                           validate=validate.OneOf(["running", "completed", "completed_with_errors"]))
    top = fields.Integer(load_default=20, validate=validate.Range(min=1, max=100))


class RunSummarySchema(Schema):
    run_id = fields.String(required=True)
    status = fields.String(required=True)
    mode = fields.String(required=True, metadata={"enum": ["single", "bulk"]})
    created_on = fields.String(allow_none=True)
    progress = fields.Dict(required=True)
    counts = fields.Dict(required=True)


class RunListSchema(Schema):
    runs = fields.List(fields.Nested(RunSummarySchema), required=True)


class RunAcceptedSchema(Schema):
    run_id = fields.String(required=True)


class PostTaskSchema(Schema):
    task = fields.String(required=True, validate=validate.OneOf(("send", "sync", "charge")))
    status = fields.String(required=True, validate=validate.OneOf(("queued", "succeeded", "failed", "skipped")))
    message = fields.String(required=True)


class RunRowResultSchema(RowResultSchema):
    """A row's Result: the single flow's result (`pending` until known) plus its post tasks.

    The row's cycle is the row's own `cycle` field, so the result does not repeat it.
    """

    class Meta:
        exclude = ("cycle",)

    status = fields.String(required=True, validate=validate.OneOf(("pending", "created", "skipped", "failed")))
    post_tasks = fields.List(fields.Nested(PostTaskSchema), required=True)


class RunRowSchema(Schema):
    row_index = fields.Integer(required=True)
    billing_contract_id = fields.String(required=True)
    name = fields.String(allow_none=True, required=True)
    cycle = fields.String(allow_none=True, required=True,
                          metadata={"description": "the cycle key; a change log's is \"change-log:<as_of>\""})
    trigger_post_invoicing_tasks = fields.Boolean(required=True)
    result = fields.Nested(RunRowResultSchema, required=True)


class ProgressSchema(Schema):
    done = fields.Integer(required=True)
    total = fields.Integer(required=True)


class CountsSchema(Schema):
    created = fields.Integer(required=True)
    skipped = fields.Integer(required=True)
    failed = fields.Integer(required=True)


class RunSchema(Schema):
    run_id = fields.String(required=True)
    run_key = fields.String(allow_none=True, required=True)
    status = fields.String(required=True, validate=validate.OneOf(("running", "completed", "completed_with_errors")))
    source = fields.String(allow_none=True, required=True)
    progress = fields.Nested(ProgressSchema, required=True)
    counts = fields.Nested(CountsSchema, required=True)
    throttled_s = fields.Float(required=True, metadata={
        "description": "Seconds the run's execution in this process waited out Dataverse's 429s "
                       "(0 when the run is read back from Dataverse)."})
    rows = fields.List(fields.Nested(RunRowSchema), required=True)
