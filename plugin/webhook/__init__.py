"""`POST /api/v1/webhooks/dataverse` (docs/interfaces.md): authenticate, parse, dispatch by MessageName."""
from __future__ import annotations

import time

from flask import Blueprint, jsonify, request
from flask.typing import ResponseReturnValue
from marshmallow import ValidationError

from plugin.api import json_body, require_json_content_type
from plugin.api.openapi import doc
from plugin.context import app_config, app_dataverse
from plugin.errors import ApiError
from plugin.webhook.auth import check_webhook_key
from plugin.webhook.handlers import WebhookCall, handler_for
from plugin.webhook_header import WEBHOOK_HEADER
from schemas.webhook import ExecutionContext, RemoteExecutionContextSchema

bp = Blueprint("webhook", __name__)

SIZE_EXCEEDED_HEADER = "x-ms-dynamics-msg-size-exceeded"


def _context() -> ExecutionContext:
    body = json_body("malformed_payload")
    if not isinstance(body, dict):
        raise ApiError(400, "malformed_payload", "the body must be a RemoteExecutionContext object")
    try:
        return RemoteExecutionContextSchema().load(body)
    except ValidationError as exc:
        raise ApiError(400, "malformed_payload", "the body is not a valid RemoteExecutionContext",
                       {"fields": exc.messages}) from exc
    except RecursionError as exc:
        raise ApiError(400, "malformed_payload", "the body is nested too deeply") from exc


@bp.post("/dataverse")
@doc(summary="Dataverse webhook for w365_GenerateInvoice / w365_GenerateInvoices (docs/interfaces.md)", tags=("webhook",),
     body=RemoteExecutionContextSchema, security=False,
     headers={WEBHOOK_HEADER: "one of W365_WEBHOOK_KEYS (or ?code=)"},
     responses={200: "the API's result JSON (failed rows included)"})
def dataverse() -> ResponseReturnValue:
    """Run the custom API message as the initiating user; 200 with the result JSON, failures included."""
    config = app_config()
    require_json_content_type()
    check_webhook_key(config, request)
    context = _context()
    if not context.initiating_user_id:
        raise ApiError(400, "malformed_payload", "InitiatingUserId is required: the service acts only as the "
                       "user who pressed the button")
    handler = handler_for(context.message_name)
    if handler is None:
        raise ApiError(400, "unknown_message", f"no handler for message {context.message_name!r}")
    deadline = time.monotonic() + config.webhook_budget_s
    correlation_id = context.correlation_id or request.headers.get("x-ms-correlation-request-id")
    client = app_dataverse().with_options(
        caller_id=context.initiating_user_id, correlation_id=correlation_id,
        retry_budget_s=min(config.interactive_retry_budget_s, config.webhook_budget_s / 4))  # ≤ 4 calls in the budget
    call = WebhookCall(context=context, client=client, config=config, deadline=deadline,
                       size_exceeded=request.headers.get(SIZE_EXCEEDED_HEADER) is not None)
    return jsonify(handler(call)), 200


from plugin.webhook import single, bulk  # noqa: E402,F401  (register the message handlers)
