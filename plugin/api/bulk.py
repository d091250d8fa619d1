"""`GET|POST /api/v1/bulk/rows`: the bulk window's rows for the selected contracts (docs/interfaces.md)."""
from __future__ import annotations

from flask import jsonify
from flask.typing import ResponseReturnValue

from plugin.api import bp, caller_dataverse, load_body, load_query
from plugin.api.openapi import doc
from plugin.context import app_config
from plugin.runs.window_rows import bulk_rows
from plugin.invoicing.single import today_utc
from schemas.runs import BulkRowsBodySchema, BulkRowsQuerySchema, BulkRowsResponseSchema


def _rows(ids: list[str], as_of):
    return jsonify(bulk_rows(caller_dataverse(), ids, as_of or today_utc(), app_config().invoicing_cycle_range))


@bp.get("/bulk/rows")
@doc(summary="The bulk window's rows: names, cycles, default cycle, automations", query=BulkRowsQuerySchema,
     responses={200: BulkRowsResponseSchema})
def bulk_rows_by_query() -> ResponseReturnValue:
    """Rows for `?ids=a,b,…` (in that order)."""
    query = load_query(BulkRowsQuerySchema())
    return _rows(query["ids"], query["as_of"])


@bp.post("/bulk/rows")
@doc(summary="The bulk window's rows for many ids (JSON body)", body=BulkRowsBodySchema,
     responses={200: BulkRowsResponseSchema})
def bulk_rows_by_body() -> ResponseReturnValue:
    """Rows for `{ids: [...]}` (in that order); for selections too long for a URL."""
    body = load_body(BulkRowsBodySchema())
    return _rows(body["ids"], body["as_of"])
