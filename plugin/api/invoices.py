"""`POST /api/v1/invoices/preview` and `POST /api/v1/invoices` (one contract, docs/interfaces.md)."""
from __future__ import annotations

from flask import jsonify, request
from flask.typing import ResponseReturnValue

from plugin.api import bp, caller_dataverse, load_body
from plugin.api.openapi import HEADER_MAX_LENGTH, doc
from plugin.context import app_config
from connectors.dataverse.errors import NotFoundError
from plugin.errors import ApiError
from plugin.invoicing.invoice_view import invoice_view
from plugin.invoicing.single import GenerateRequest, generate, preview
from schemas.webhook import is_guid
from schemas.api import (CreateInvoiceRequestSchema, CreateInvoiceResponseSchema, PreviewRequestSchema,
                         PreviewResponseSchema)

IDEMPOTENCY_HEADER = "Idempotency-Key"
MAX_KEY_LENGTH = HEADER_MAX_LENGTH


def idempotency_key() -> str | None:
    """The `Idempotency-Key` header (400 when empty or too long)."""
    key = request.headers.get(IDEMPOTENCY_HEADER)
    if key is None:
        return None
    key = key.strip()
    if not key or len(key) > MAX_KEY_LENGTH:
        raise ApiError(400, "invalid_idempotency_key", f"{IDEMPOTENCY_HEADER} must be 1-{MAX_KEY_LENGTH} characters")
    return key


@bp.post("/invoices/preview")
@doc(summary="The invoice that would be created (writes nothing)", body=PreviewRequestSchema,
     responses={200: PreviewResponseSchema})
def preview_invoice() -> ResponseReturnValue:
    """Preview one contract's invoice for a cycle."""
    body = load_body(PreviewRequestSchema())
    return jsonify(preview(caller_dataverse(), body["billing_contract_id"], body["cycle"], body["as_of"],
                           app_config().invoicing_cycle_range))


@bp.post("/invoices")
@doc(summary="Generate one invoice (never post-invoicing tasks)", body=CreateInvoiceRequestSchema,
     headers={IDEMPOTENCY_HEADER: "a retry with the same key returns the first answer"},
     responses={201: CreateInvoiceResponseSchema, 200: CreateInvoiceResponseSchema})
def create_invoice() -> ResponseReturnValue:
    """Create the invoice of one (contract, cycle), exactly once per Idempotency-Key."""
    body = load_body(CreateInvoiceRequestSchema())
    key = idempotency_key()
    result = generate(caller_dataverse(), GenerateRequest(
        contract_id=body["billing_contract_id"], cycle=body["cycle"], as_of=body["as_of"],
        on_existing=body["on_existing"], preview_hash=body["preview_hash"]),
        source="api", run_key=key, cycle_range=app_config().invoicing_cycle_range)
    if result.privilege_error:
        raise ApiError(403, "forbidden", result.outcome["message"] or "missing privilege",
                       {"run_id": result.body["run_id"], "result": result.outcome})
    return jsonify(result.body), result.status_code


@bp.get("/invoices/<invoice_id>")
@doc(summary="One invoice with its lines by category (read-only; what the invoice page shows)",
     responses={200: "the invoice: number, dates, currency, groups of lines, totals"})
def get_invoice(invoice_id: str) -> ResponseReturnValue:
    """An invoice, read as the caller."""
    if not is_guid(invoice_id):
        raise ApiError(404, "not_found", "no such invoice", {"invoice_id": invoice_id[:100]})
    try:
        return jsonify(invoice_view(caller_dataverse(), invoice_id.strip("{}").lower()))
    except NotFoundError as exc:
        raise ApiError(404, "not_found", "no such invoice", {"invoice_id": invoice_id}) from exc
