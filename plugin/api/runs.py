"""`/api/v1/invoice-runs`: start a bulk run, read its Result (JSON or CSV), retry its failed rows."""
from __future__ import annotations

import threading

from flask import Flask, Response, current_app, g, jsonify, url_for
from flask.typing import ResponseReturnValue

from plugin.api import bp, current_caller, load_body, load_query
from plugin.api.invoices import IDEMPOTENCY_HEADER, idempotency_key
from plugin.api.openapi import doc
from plugin.context import app_config, app_dataverse
from plugin.errors import ApiError
from plugin.runs.model import CSV_HEADER, RunRequest, RunView, results_csv, rows_from_dicts
from plugin.runs.listing import (VIEWER_TTL_S, RunViewer, TtlCache, list_runs, viewer_of_object_id,
                                 visible_run_id)
from plugin.runs.store import valid_run_key
from plugin.invoicing.writes import RUN_RUNNING
from plugin.runs.service import RunConflict, RunKeyReused, RunNotFound, RunService
from schemas.runs import (CreateRunRequestSchema, RunAcceptedSchema, RunListQuerySchema, RunListSchema, RunSchema,
                          WaitQuerySchema)

MAX_RUN_ID_LENGTH = 100
_EXTENSION = "w365.runs"
_lock = threading.Lock()


def app_runs(app: Flask | None = None) -> RunService:
    """The app's run service (one per app: its runs, its batch pool, its post-task worker)."""
    app = app or current_app
    with _lock:
        service = app.extensions.get(_EXTENSION)
        if service is None:
            config = app_config(app)
            queue = None
            if config.broker_url:  # the distributed engine: workers execute the runs
                from plugin.runs.celery_tasks import CeleryRunQueue

                queue = CeleryRunQueue(config)
            service = RunService(app_dataverse(app), config, queue=queue)
            service.start_task_recovery()  # in the background: a sweep now, then periodically
            service.start_run_sweep()      # runs whose process died are resumed here
            app.extensions[_EXTENSION] = service
        return service


def close_runs(app: Flask, timeout: float | None = None) -> bool:
    """Let the app's runs in progress finish (within `timeout` s; the others are released for another
    process to resume) and stop its workers; False when it never ran one."""
    with _lock:
        service = app.extensions.pop(_EXTENSION, None)
    if service is None:
        return False
    service.close(timeout)
    return True


def run_answer(service: RunService, run_id: str, wait: float | None) -> ResponseReturnValue:
    """202 `{run_id}` — or 200 with the finished run when it finished within `wait` seconds."""
    if wait:
        view = service.wait(run_id, wait)
        if view is not None and view.finished:
            return jsonify(view.as_json()), 200
    response = jsonify({"run_id": run_id})
    response.status_code = 202
    response.headers["Location"] = url_for("api.get_run", run_id=run_id)
    return response


def _checked(run_id: str) -> str:
    if not valid_run_key(run_id):
        raise ApiError(404, "not_found", "no invoice run has this id", {"run_id": run_id[:MAX_RUN_ID_LENGTH]})
    return run_id


def _viewers() -> TtlCache:
    """Who each Entra object id is, kept a minute per app (the pages poll a run every second)."""
    with _lock:
        return current_app.extensions.setdefault("w365.viewers", TtlCache(VIEWER_TTL_S))


def current_viewer() -> RunViewer:
    """Who is asking about runs: development mode sees every run, an API key is the application user,
    an Entra user is their systemuser (an Admin sees every run)."""
    if "w365_viewer" not in g:
        caller = current_caller()
        if caller is None or caller.method == "dev":
            g.w365_viewer = RunViewer(user_id=None, admin=True)
        elif caller.object_id:
            g.w365_viewer = _viewers().get(caller.object_id, lambda: viewer_of_object_id(app_dataverse(),
                                                                                      caller.object_id))
        else:
            g.w365_viewer = RunViewer(user_id=None)
    return g.w365_viewer


def _visible(run_id: str) -> str:
    """The run id, when the caller may see the run; 404 otherwise (whether it exists or not)."""
    _checked(run_id)
    viewer = current_viewer()
    if viewer.admin:
        return run_id
    live = app_runs().registry.get(run_id)  # a run this process executes: no Dataverse read per poll
    if live is not None and not (live.finished and live.status == RUN_RUNNING):
        if viewer.may_see(live.request.initiating_user):
            return live.run_id
        raise ApiError(404, "not_found", f"no invoice run has the id {run_id!r}", {"run_id": run_id})
    found = visible_run_id(app_dataverse(), viewer, run_id)
    if found is None:
        raise ApiError(404, "not_found", f"no invoice run has the id {run_id!r}", {"run_id": run_id})
    return found


def _view(run_id: str) -> RunView:
    view = app_runs().view(_visible(run_id))
    if view is None:
        raise ApiError(404, "not_found", f"no invoice run has the id {run_id!r}", {"run_id": run_id})
    return view


def _caller_object_id() -> str | None:
    caller = current_caller()
    return caller.object_id if caller is not None else None


@bp.post("/invoice-runs")
@doc(summary="Start a bulk run (one invoice per row; post-invoicing tasks where checked)",
     body=CreateRunRequestSchema, query=WaitQuerySchema,
     headers={IDEMPOTENCY_HEADER: "a retry with the same key starts nothing and answers the same run"},
     responses={202: RunAcceptedSchema, 200: RunSchema})
def create_run() -> ResponseReturnValue:
    """Start the run; `?wait=S` answers the finished run when it ends within S seconds."""
    body = load_body(CreateRunRequestSchema())
    wait = load_query(WaitQuerySchema())["wait"]
    request = RunRequest(rows=rows_from_dicts(body["rows"]), source=body["source"] or "api",
                         on_existing=body["on_existing"], as_of=body["as_of"], run_key=idempotency_key(),
                         caller_object_id=_caller_object_id())
    service = app_runs()
    try:
        run_id = service.start(request)
    except RunKeyReused as exc:
        raise ApiError(409, "idempotency_key_reused", str(exc)) from exc
    return run_answer(service, run_id, wait)


@bp.get("/invoice-runs")
@doc(summary="The caller's recent runs, newest first (an Admin's: everyone's)", query=RunListQuerySchema,
     responses={200: RunListSchema})
def list_invoice_runs() -> ResponseReturnValue:
    """`?status=` filters exactly; `?top=` 1-100 (default 20)."""
    query = load_query(RunListQuerySchema())
    return jsonify({"runs": list_runs(app_dataverse(), current_viewer(), status=query["status"], top=query["top"])})


@bp.get("/invoice-runs/<run_id>")
@doc(summary="A run's status, progress and per-row Result", responses={200: RunSchema})
def get_run(run_id: str) -> ResponseReturnValue:
    """The run by id (or by its run key)."""
    return jsonify(_view(run_id).as_json())


@bp.get("/invoice-runs/<run_id>/results.csv")
@doc(summary="A run's Result as CSV", responses={200: "text/csv: " + ",".join(CSV_HEADER)},
     content_types={200: "text/csv"})
def get_run_csv(run_id: str) -> ResponseReturnValue:
    """`billing_contract_id,name,cycle,result,invoice_number,invoice_total,message`."""
    view = _view(run_id)
    return Response(results_csv(view), mimetype="text/csv", headers={
        "Content-Disposition": f'attachment; filename="invoice-run-{view.run_id}.csv"'})


@bp.post("/invoice-runs/<run_id>/retry")
@doc(summary="Re-run only the failed rows of a finished run (same run id)", query=WaitQuerySchema,
     responses={202: RunAcceptedSchema, 200: RunSchema})
def retry_run(run_id: str) -> ResponseReturnValue:
    """Retry the failed rows; answers like `POST /invoice-runs`."""
    wait = load_query(WaitQuerySchema())["wait"]
    service = app_runs()
    try:
        resolved = service.retry(_visible(run_id), caller_object_id=_caller_object_id())
    except RunNotFound as exc:
        raise ApiError(404, "not_found", f"no invoice run has the id {run_id!r}", {"run_id": run_id}) from exc
    except RunConflict as exc:
        raise ApiError(409, "run_in_progress", str(exc), {"run_id": run_id}) from exc
    return run_answer(service, resolved, wait)
