"""`GET /api/v1/health` (liveness + whether Dataverse answers) and `GET /api/v1/openapi.json`."""
from __future__ import annotations

import time

from flask import current_app, jsonify, request
from flask.typing import ResponseReturnValue

from plugin import __version__
from plugin.api import bp
from plugin.api.openapi import build_spec, doc
from plugin.context import app_dataverse
from plugin.auth import authenticator
from plugin.errors import ApiError
from schemas.api import HealthResponseSchema

_SPEC = "w365.openapi"


def dataverse_status() -> dict:
    """One cheap authenticated read: reachable or not, with its latency or error."""
    started = time.perf_counter()
    try:
        client = app_dataverse().with_options(retry_budget_s=1.0, timeout_s=5.0)
        next(iter(client.query("transactioncurrencies", select=["transactioncurrencyid"], top=1)), None)
    except Exception as exc:  # noqa: BLE001 - health reports any failure instead of raising
        return {"reachable": False, "error": f"{type(exc).__name__}: {exc}"[:300]}
    return {"reachable": True, "latency_ms": round((time.perf_counter() - started) * 1000, 1)}


@bp.get("/health")
@doc(summary="Liveness and whether Dataverse answers", tags=("service",), security=False,
     responses={200: HealthResponseSchema})
def health() -> ResponseReturnValue:
    """Always 200 while the service runs; `status` is `degraded` when Dataverse does not answer.

    Only an authenticated caller learns more (the Dataverse check's detail, the version): the URL of
    the org or an sign-in error text is nobody else's business."""
    dataverse = dataverse_status()
    body = {"status": "ok" if dataverse["reachable"] else "degraded"}
    if _authenticated():
        body.update(dataverse=dataverse, version=__version__)
    return jsonify(body)


def _authenticated() -> bool:
    try:
        authenticator(current_app).authenticate(request)
    except ApiError:
        return False
    return True


@bp.get("/openapi.json")
@doc(summary="This OpenAPI document", tags=("service",), security=False,
     responses={200: "the OpenAPI 3 document (JSON)"})
def openapi_document() -> ResponseReturnValue:
    """The OpenAPI document generated from the marshmallow schemas."""
    spec = current_app.extensions.get(_SPEC)
    if spec is None:
        spec = current_app.extensions[_SPEC] = build_spec(current_app)
    return jsonify(spec)
