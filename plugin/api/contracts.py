"""`GET /api/v1/billing-contracts/{id}/cycles?as_of=`: the contract header and its billing cycles."""
from __future__ import annotations

from flask import jsonify
from flask.typing import ResponseReturnValue

from plugin.api import bp, caller_dataverse, load_query
from plugin.api.openapi import doc
from plugin.context import app_config
from plugin.errors import ApiError
from plugin.invoicing.single import contract_cycles
from schemas.api import CyclesQuerySchema, CyclesResponseSchema
from schemas.webhook import is_guid, normalise_guid


def path_guid(value: str, what: str = "billing contract") -> str:
    """A GUID from the URL path; 404 when it cannot name a row."""
    if not is_guid(value):
        raise ApiError(404, "not_found", f"{what} {value!r} does not exist: not a valid id", {"id": value})
    return normalise_guid(value)


@bp.get("/billing-contracts/<contract_id>/cycles")
@doc(summary="A contract's header and billing cycles (the default preselected)", query=CyclesQuerySchema,
     responses={200: CyclesResponseSchema})
def cycles(contract_id: str) -> ResponseReturnValue:
    """The header and the cycle list of docs/billing-rules.md."""
    query = load_query(CyclesQuerySchema())
    body = contract_cycles(caller_dataverse(), path_guid(contract_id), query["as_of"],
                           app_config().invoicing_cycle_range)
    return jsonify(body)
