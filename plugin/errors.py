"""The one error shape of the service: `{"error": {"code", "message", "details"}}` with a 4xx status."""
from __future__ import annotations

import logging
from typing import Any

from flask import Flask, Response, jsonify
from marshmallow import ValidationError
from werkzeug.exceptions import BadRequest, HTTPException

from connectors.dataverse.errors import (DataverseConnectionError, DataverseError, PrivilegeError,
                                         ServiceUnavailableError, ThrottledError)

log = logging.getLogger(__name__)


class ApiError(Exception):
    """An error answered to the client as the shared error shape."""

    def __init__(self, status: int, code: str, message: str, details: dict[str, Any] | None = None):
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.details = details or {}


def error_response(status: int, code: str, message: str,
                   details: dict[str, Any] | None = None) -> Response:
    """A Flask response carrying the shared error shape."""
    response = jsonify({"error": {"code": code, "message": message, "details": details or {}}})
    response.status_code = status
    return response


def validation_error(exc: ValidationError, code: str = "validation_error") -> ApiError:
    """A marshmallow ValidationError as a 422 ApiError with the per-field messages."""
    messages = exc.messages if isinstance(exc.messages, dict) else {"_schema": exc.messages}
    return ApiError(422, code, "the request is not valid", {"fields": messages})


_HTTP_CODES = {
    400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found",
    405: "method_not_allowed", 406: "not_acceptable", 409: "conflict", 413: "payload_too_large",
    415: "unsupported_media_type", 422: "validation_error", 429: "too_many_requests",
}


def _from_http_exception(exc: HTTPException):
    status = exc.code or 500
    if status >= 500:
        return error_response(status, "server_error", exc.description or "server error")
    code = _HTTP_CODES.get(status, "client_error")
    if isinstance(exc, BadRequest) and "JSON" in (exc.description or ""):
        code = "malformed_json"
    response = error_response(status, code, exc.description or exc.name)
    if status == 405 and getattr(exc, "valid_methods", None):
        response.headers["Allow"] = ", ".join(exc.valid_methods)
    return response


def dataverse_error_response(exc: DataverseError) -> Response:
    """A Dataverse failure outside the caller's control: 403 privilege, 503 throttled, else 502."""
    if isinstance(exc, PrivilegeError):
        return error_response(403, "forbidden", f"Dataverse refused: {exc.message}")
    log.warning("Dataverse error: %r", exc)
    if isinstance(exc, (ThrottledError, ServiceUnavailableError, DataverseConnectionError)):
        response = error_response(503, "dataverse_unavailable", f"Dataverse is unavailable: {exc}")
        response.headers["Retry-After"] = str(int(exc.retry_after or 5))
        return response
    return error_response(502, "dataverse_error", f"Dataverse answered an error: {exc}")


def register_error_handlers(app: Flask) -> None:
    """Install the handlers giving every error the shared shape."""

    @app.errorhandler(ApiError)
    def _api_error(exc: ApiError):
        response = error_response(exc.status, exc.code, exc.message, exc.details)
        if exc.status == 401:  # RFC 9110: a 401 names the scheme it wants
            response.headers["WWW-Authenticate"] = 'Bearer realm="w365-invoicing"'
        return response

    @app.errorhandler(ValidationError)
    def _validation(exc: ValidationError):
        err = validation_error(exc)
        return error_response(err.status, err.code, err.message, err.details)

    @app.errorhandler(DataverseError)
    def _dataverse(exc: DataverseError):
        return dataverse_error_response(exc)

    @app.errorhandler(HTTPException)
    def _http(exc: HTTPException):
        return _from_http_exception(exc)

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception):
        log.exception("unhandled error")
        return error_response(500, "server_error", "an unexpected error occurred")
