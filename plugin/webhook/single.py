"""`w365_GenerateInvoice` (docs/interfaces.md): one contract's invoice, as the initiating user, once per CorrelationId."""
from __future__ import annotations

from typing import Any

from connectors.dataverse.errors import DataverseError
from plugin.errors import ApiError
from plugin.invoicing.single import GenerateRequest, generate
from plugin.webhook.handlers import WebhookCall, load_params, register
from schemas.webhook import GenerateInvoiceParamsSchema

MESSAGE = "w365_GenerateInvoice"
STRIPPED = ("the payload exceeded 256 KB and Dataverse stripped its parameters; "
            "a single-contract request cannot be recovered without them")


def _failed(message: str, cycle: str | None = None) -> dict[str, Any]:
    return {"run_id": None, "result": {"status": "failed", "invoice": None, "existing_invoices": [],
                                       "message": message, "cycle": cycle}}


def handle_generate_invoice(call: WebhookCall) -> dict[str, Any]:
    """Generate the invoice and answer the API's result JSON (failures included, as 200)."""
    if call.size_exceeded and not call.context.input_parameters:
        return _failed(STRIPPED)
    params = load_params(call, GenerateInvoiceParamsSchema())
    try:
        result = generate(call.client, GenerateRequest(contract_id=params["billing_contract_id"],
                                                       cycle=params["cycle"], on_existing=params["on_existing"]),
                          source="webhook", run_key=call.context.correlation_id,
                          initiating_user_id=call.context.initiating_user_id,
                          correlation_id=call.context.correlation_id,
                          cycle_range=call.config.invoicing_cycle_range)
    except ApiError as exc:  # a well-formed call Dataverse cannot satisfy (unknown contract or cycle, ...)
        return {**_failed(exc.message, params["cycle"]), "error": {"code": exc.code, "details": exc.details}}
    except DataverseError as exc:  # nothing was half-written (change sets are atomic): report it
        return {**_failed(f"Dataverse failed: {exc}", params["cycle"]),
                "error": {"code": "dataverse_error", "details": {"status": exc.status, "code": exc.code}}}
    return result.body


register(MESSAGE, handle_generate_invoice)
