"""HTTP API schemas (docs/interfaces.md): requests validated on load, responses documented in OpenAPI.

Money in responses is a string with the currency's precision ("475.20").
"""
from __future__ import annotations

from datetime import date, datetime, timezone
from typing import Any

from marshmallow import RAISE, Schema, ValidationError, fields, post_load, validate, validates_schema

from plugin.engine.change_log import change_log_key, parse_change_log_key

from schemas.webhook import ON_EXISTING_CHOICES, GuidString

CYCLE_KEY = validate.Length(min=1, max=32)
# Billing dates the service accepts: wide, yet far from datetime's year-9999 edge and from cycle
# lists of absurd length.
AS_OF_RANGE = validate.Range(min=date(1900, 1, 1), max=date(2199, 12, 31),
                             error="must be between 1900-01-01 and 2199-12-31")


KINDS = ("cycle", "change_log")
KIND_DESCRIPTION = ("\"cycle\" (default): a cycle invoice; \"change_log\": what changed in the current cycle "
                    "up to as_of (required, not after today; no cycle)")


class StrictSchema(Schema):
    """Unknown fields are an error (422 with the field named)."""

    class Meta:
        unknown = RAISE


def check_change_log(data: dict[str, Any], *, as_of_field: str = "as_of") -> None:
    """A change log needs an as-of date that is not after today (UTC) and no cycle (422 otherwise)."""
    if data.get("kind") != "change_log":
        if parse_change_log_key(data.get("cycle")) is not None:
            raise ValidationError('a change log is asked for with "kind": "change_log" and as_of', "cycle")
        return
    if data.get("cycle") is not None:
        raise ValidationError("a change log takes no cycle: give as_of only", "cycle")
    as_of = data.get("as_of")
    if as_of is None:
        raise ValidationError("a change log needs its as-of date", as_of_field)
    today = datetime.now(timezone.utc).date()
    if as_of > today:
        raise ValidationError(f"{as_of.isoformat()} is in the future (today is {today.isoformat()})", as_of_field)


def change_log_as_cycle(data: dict[str, Any]) -> dict[str, Any]:
    """A change log travels as its key in `cycle` ("change-log:2026-03-01"): the row's name in results."""
    if data.get("kind") == "change_log":
        data["cycle"] = change_log_key(data["as_of"])
    return data


# ---- requests ---------------------------------------------------------------------------------

class CyclesQuerySchema(StrictSchema):
    """`GET /billing-contracts/{id}/cycles?as_of=`."""

    as_of = fields.Date(load_default=None, validate=AS_OF_RANGE, metadata={"description": "today (UTC) when omitted"})


class PreviewRequestSchema(StrictSchema):
    """`POST /invoices/preview`."""

    billing_contract_id = GuidString(required=True)
    cycle = fields.String(allow_none=True, load_default=None, validate=CYCLE_KEY,
                          metadata={"description": "cycle key (its start date) or \"one-time\"; default cycle when omitted"})
    as_of = fields.Date(allow_none=True, load_default=None, validate=AS_OF_RANGE,
                        metadata={"description": "today (UTC) when omitted; required for a change log"})
    kind = fields.String(load_default="cycle", validate=validate.OneOf(KINDS),
                         metadata={"description": KIND_DESCRIPTION})

    @validates_schema
    def _change_log(self, data: dict[str, Any], **kwargs) -> None:
        check_change_log(data)

    @post_load
    def _change_log_key(self, data: dict[str, Any], **kwargs) -> dict[str, Any]:
        return change_log_as_cycle(data)


class CreateInvoiceRequestSchema(PreviewRequestSchema):
    """`POST /invoices`."""

    on_existing = fields.String(allow_none=True, load_default=None, validate=validate.OneOf(ON_EXISTING_CHOICES))
    preview_hash = fields.String(allow_none=True, load_default=None, validate=validate.Length(min=1, max=128))


# ---- responses --------------------------------------------------------------------------------

class ErrorBodySchema(Schema):
    code = fields.String(required=True)
    message = fields.String(required=True)
    details = fields.Dict(required=True)


class ErrorResponseSchema(Schema):
    """The shared error shape."""

    error = fields.Nested(ErrorBodySchema, required=True)


class InvoiceRefSchema(Schema):
    id = fields.String(required=True)
    number = fields.String(allow_none=True, required=True)


class CreatedInvoiceSchema(InvoiceRefSchema):
    total = fields.String(allow_none=True, required=True)


class ChoiceSchema(Schema):
    value = fields.Integer(allow_none=True, required=True)
    label = fields.String(allow_none=True, required=True)


class AccountSchema(Schema):
    id = fields.String(allow_none=True, required=True)
    name = fields.String(allow_none=True, required=True)


class CurrencySchema(Schema):
    id = fields.String(allow_none=True, required=True)
    code = fields.String(allow_none=True, required=True)
    precision = fields.Integer(required=True)


class AutomationsSchema(Schema):
    send = fields.Boolean(required=True)
    sync = fields.Boolean(required=True)
    charge = fields.Boolean(required=True)


class ContractHeaderSchema(Schema):
    id = fields.String(required=True)
    name = fields.String(required=True)
    account = fields.Nested(AccountSchema, required=True)
    type = fields.Nested(ChoiceSchema, required=True)
    billing_policy = fields.Nested(ChoiceSchema, required=True)
    invoice_otp_immediately = fields.Boolean(required=True)
    currency = fields.Nested(CurrencySchema, required=True)
    automations = fields.Nested(AutomationsSchema, required=True)
    change_log = fields.Boolean(required=True, metadata={
        "description": "whether change-log invoices are offered (Recurring, cycles of 3 months or more)"})


class CycleSchema(Schema):
    key = fields.String(required=True)
    start = fields.Date(required=True)
    end = fields.Date(required=True)
    status = fields.String(required=True, validate=validate.OneOf(("uninvoiced", "invoiced", "error")))
    invoices = fields.List(fields.Nested(InvoiceRefSchema), required=True)


class CyclesResponseSchema(Schema):
    header = fields.Nested(ContractHeaderSchema, required=True)
    cycles = fields.List(fields.Nested(CycleSchema), required=True)
    default = fields.String(allow_none=True, required=True)


class PreviewLineSchema(Schema):
    number = fields.Integer(required=True)
    category = fields.String(required=True, metadata={"description": "Full Cycle, Mid-Cycle Change, Usage, Non-Recurring or Service"})
    category_value = fields.Integer(required=True, metadata={"description": "w365_linecategory"})
    name = fields.String(required=True)
    description = fields.String(required=True)
    period_start = fields.Date(required=True)
    period_end = fields.Date(required=True)
    quantity = fields.String(required=True)
    unit_price = fields.String(required=True)
    proration_factor = fields.String(required=True)
    amount = fields.String(required=True)
    discount = fields.String(required=True)
    tax = fields.String(required=True)
    total = fields.String(required=True)
    taxable = fields.Boolean(required=True)
    subscription_id = fields.String(allow_none=True, required=True)
    change_log_id = fields.String(allow_none=True, required=True)
    non_recurring_item_id = fields.String(allow_none=True, required=True)
    usage_record_ids = fields.List(fields.String(), required=True)


class TotalsSchema(Schema):
    amount = fields.String(required=True)
    discount = fields.String(required=True)
    tax = fields.String(required=True)
    total = fields.String(required=True)


class CategoryGroupSchema(TotalsSchema):
    category = fields.String(required=True)
    category_value = fields.Integer(required=True)
    line_count = fields.Integer(required=True)


class PreviewCycleSchema(Schema):
    key = fields.String(required=True)
    start = fields.Date(required=True)
    end = fields.Date(required=True)
    status = fields.String(required=True)


class ConsumedSchema(Schema):
    change_log_ids = fields.List(fields.String(), required=True)
    usage_record_ids = fields.List(fields.String(), required=True)
    non_recurring_item_ids = fields.List(fields.String(), required=True)


class PreviewResponseSchema(Schema):
    billing_contract_id = fields.String(required=True)
    header = fields.Nested(ContractHeaderSchema, required=True)
    cycle = fields.Nested(PreviewCycleSchema, required=True)
    kind = fields.String(required=True, validate=validate.OneOf(KINDS))
    as_of = fields.Date(allow_none=True, required=True, metadata={"description": "a change log's as-of date"})
    invoice_category = fields.String(required=True,
                                     validate=validate.OneOf(("Full Cycle", "One-Time", "Change Log")))
    period_start = fields.Date(required=True)
    period_end = fields.Date(required=True)
    invoice_date = fields.Date(required=True)
    due_date = fields.Date(required=True)
    schedule_date = fields.Date(allow_none=True, required=True)
    currency = fields.Nested(CurrencySchema, required=True)
    lines = fields.List(fields.Nested(PreviewLineSchema), required=True)
    categories = fields.List(fields.Nested(CategoryGroupSchema), required=True)
    totals = fields.Nested(TotalsSchema, required=True)
    consumed = fields.Nested(ConsumedSchema, required=True)
    existing_invoices = fields.List(fields.Nested(InvoiceRefSchema), required=True)
    warnings = fields.List(fields.String(), required=True)
    nothing_to_invoice = fields.Boolean(required=True)
    preview_hash = fields.String(required=True)


class RowResultSchema(Schema):
    status = fields.String(required=True, validate=validate.OneOf(("created", "skipped", "failed")))
    invoice = fields.Nested(CreatedInvoiceSchema, allow_none=True, required=True)
    existing_invoices = fields.List(fields.Nested(InvoiceRefSchema), required=True)
    message = fields.String(allow_none=True, required=True)
    cycle = fields.String(allow_none=True, required=True)


class CreateInvoiceResponseSchema(Schema):
    run_id = fields.String(required=True)
    result = fields.Nested(RowResultSchema, required=True)


class HealthResponseSchema(Schema):
    status = fields.String(required=True, validate=validate.OneOf(("ok", "degraded")))
    dataverse = fields.Dict(metadata={"description": "authenticated callers only: the Dataverse check"})
    version = fields.String(metadata={"description": "authenticated callers only"})
