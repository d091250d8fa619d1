"""`w365_GenerateInvoices` (docs/interfaces.md): a bulk run as the initiating user, once per RunId.

The run goes on in the background: the answer waits for it within the webhook's budget and then
carries the run as it stands (rows not done yet are `pending`; they complete in Dataverse, where
the command script reads the Result back).
"""
from __future__ import annotations

from typing import Any

from connectors.dataverse import odata
from plugin.api.runs import app_runs
from plugin.errors import ApiError
from plugin.runs.model import RunRequest, rows_from_dicts
from plugin.runs.store import find_run_by_key, valid_run_key
from plugin.runs.service import RunKeyReused
from plugin.webhook.handlers import WebhookCall, load_params, register
from schemas.webhook import GenerateInvoicesParamsSchema

MESSAGE = "w365_GenerateInvoices"
ANSWER_MARGIN_S = 3.0   # answer this long before the webhook budget runs out


def _stripped_run_key(call: WebhookCall) -> str:
    """The RunId of a payload Dataverse stripped (over 256 KB): the initiating user's newest unstarted run."""
    user = call.context.initiating_user_id
    rows = call.client.query("w365_invoiceruns", select=["w365_runkey"], top=1, orderby="createdon desc",
                             filter=odata.and_("w365_status eq null",
                                               odata.eq("_w365_initiatinguser_value", user) if user else None))
    found = next(iter(rows), None)
    if found is None or not found.get("w365_runkey"):
        raise ApiError(400, "malformed_payload", "the parameters were stripped (payload over 256 KB) and no run "
                       "row written by the command script awaits this user")
    return found["w365_runkey"]


def handle_generate_invoices(call: WebhookCall) -> dict[str, Any]:
    """Start (or find) the run of `RunId` and answer its Result JSON, failed rows included."""
    if call.size_exceeded and not call.context.input_parameters:
        params = {"run_id": _stripped_run_key(call), "rows": None, "on_existing": None}
    else:
        params = load_params(call, GenerateInvoicesParamsSchema())
    if not valid_run_key(params["run_id"]):
        raise ApiError(400, "malformed_payload", "RunId must be 1-100 characters without control characters")
    service = app_runs()
    request = RunRequest(rows=rows_from_dicts(params["rows"] or []), source="webhook",
                         on_existing=params["on_existing"], run_key=params["run_id"],
                         caller_id=call.context.initiating_user_id)
    if not request.rows:
        record = find_run_by_key(call.client, request.run_key)
        if record is None or (record.status is None and not record.rows):
            raise ApiError(400, "malformed_payload", "no rows: give Rows or BillingContractIds, or write them to "
                           "the run's w365_requestjson first", {"run_id": request.run_key})
    try:
        run_id = service.start(request)
    except RunKeyReused as exc:
        raise ApiError(400, "malformed_payload", str(exc), {"run_id": request.run_key}) from exc
    view = service.wait(run_id, max(call.remaining_s - ANSWER_MARGIN_S, 0.0), client=call.client)
    return view.as_json()


register(MESSAGE, handle_generate_invoices)
