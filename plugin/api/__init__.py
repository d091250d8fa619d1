"""The `/api/v1` blueprint (docs/interfaces.md): authentication, request parsing helpers, route modules."""
from __future__ import annotations

import json
import re
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from flask import Blueprint, current_app, g, request
from marshmallow import Schema, ValidationError

from plugin.context import app_dataverse
from plugin.auth import Caller, authenticator
from plugin.errors import ApiError, validation_error
from schemas.webhook import is_valid_unicode

if TYPE_CHECKING:
    from connectors.dataverse import DataverseClient

bp = Blueprint("api", __name__)
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")  # cheap pre-check for is_valid_unicode

# Endpoints reachable without credentials (liveness, the API description).
PUBLIC_ENDPOINTS = {"api.health", "api.openapi_document"}


def require_json_content_type() -> None:
    """415 for a POST whose Content-Type is not `application/json`: a browser cannot send that cross-site
    without a CORS preflight, which this service never grants (text/plain and form bodies are refused)."""
    if request.method != "POST":
        return
    if request.mimetype != "application/json":
        raise ApiError(415, "unsupported_media_type", "POST bodies must be sent as Content-Type: application/json",
                       {"content_type": (request.content_type or "")[:100]})


@bp.before_request
def _authenticate() -> None:
    require_json_content_type()
    if request.endpoint in PUBLIC_ENDPOINTS:
        g.caller = None
        return
    g.caller = authenticator(current_app).authenticate(request)


def current_caller() -> Caller | None:
    """The authenticated caller of this request (None on public endpoints)."""
    return g.get("caller")


def caller_dataverse() -> "DataverseClient":
    """The Dataverse client acting for this request's caller (Entra users via `CallerObjectId`)."""
    client = app_dataverse()
    caller = current_caller()
    if caller is not None and caller.object_id:
        return client.with_options(caller_object_id=caller.object_id)
    return client


def json_body(code: str = "malformed_json") -> Any:
    """The request body parsed as JSON (numbers as Decimal); 400 `code` otherwise."""
    raw = request.get_data(cache=True)
    if not raw.strip():
        raise ApiError(400, code, "the request body must be a JSON object")
    try:
        body = json.loads(raw, parse_float=Decimal)
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        raise ApiError(400, code, f"the request body is not valid JSON: {str(exc)[:200]}") from exc
    if _SURROGATE_ESCAPE.search(raw) and not is_valid_unicode(body):
        raise ApiError(400, code, "the request body is not valid JSON: a \\u escape is an unpaired surrogate")
    return body


def load_body(schema: Schema) -> dict[str, Any]:
    """The JSON body validated by `schema`; 400 when not an object, 422 with field details when invalid."""
    body = json_body()
    if not isinstance(body, dict):
        raise ApiError(400, "malformed_json", "the request body must be a JSON object")
    try:
        return schema.load(body)
    except ValidationError as exc:
        raise validation_error(exc) from exc


def load_query(schema: Schema) -> dict[str, Any]:
    """The query validated by `schema` (422 with details); empty values are absent, `?ids=a&ids=b` is `ids=a,b`."""
    query = {key: ",".join(v for v in values if v) for key, values in request.args.to_dict(flat=False).items()}
    try:
        return schema.load({key: value for key, value in query.items() if value})
    except ValidationError as exc:
        raise validation_error(exc) from exc


from plugin.api import health, contracts, invoices, bulk, runs  # noqa: E402,F401  (register routes on bp)
