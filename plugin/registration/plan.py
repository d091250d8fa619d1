"""Pure planning: from a snapshot of the org, the changes that register or unregister the service."""
from __future__ import annotations

from typing import Any, Iterable

from . import spec
from .model import Bind, Change, ExistingCustomApi, ExistingStep, Finding, Plan, Ref, Snapshot

_Result = tuple[list[Finding], list[Change]]
_FIXED = "fixed once saved: Dataverse cannot change it"
_DUPLICATE = "duplicate; removed by register"


def _fold(name: str | None) -> str:
    return (name or "").casefold()


def _differences(current: Any, wanted: dict[str, Any]) -> dict[str, tuple[Any, Any]]:
    """Columns of `wanted` whose value on the existing row `current` is not the wanted one."""
    return {col: (getattr(current, col), value)
            for col, value in wanted.items() if getattr(current, col) != value}


def _describe(diffs: dict[str, tuple[Any, Any]]) -> str:
    return "; ".join(f"{col} is {have!r}, needs {want!r}" for col, (have, want) in diffs.items())


def _wanted_values(diffs: dict[str, tuple[Any, Any]]) -> dict[str, Any]:
    return {col: want for col, (_, want) in diffs.items()}


# customapi columns Dataverse fixes once saved, with the values the service needs
_API_FIXED = {"bindingtype": spec.BINDING_GLOBAL, "isfunction": False,
              "allowedcustomprocessingsteptype": spec.STEP_TYPE_SYNC_AND_ASYNC}


def _api_mutable(api: spec.CustomApiSpec) -> dict[str, Any]:
    return {"name": api.uniquename, "displayname": api.displayname, "description": api.description}


def _parameter_fixed(param: spec.ParameterSpec) -> dict[str, Any]:
    return {"type": param.type, "isoptional": param.isoptional}


def _parameter_mutable(api: spec.CustomApiSpec, param: spec.ParameterSpec) -> dict[str, Any]:
    return {"name": spec.parameter_name(api, param), "displayname": param.uniquename,
            "description": param.description}


def _parameter_record(api: spec.CustomApiSpec, param: spec.ParameterSpec) -> dict[str, Any]:
    return {"uniquename": param.uniquename, **_parameter_fixed(param), **_parameter_mutable(api, param)}


def _parameter_label(param: spec.ParameterSpec) -> str:
    optional = ", optional" if param.isoptional else ""
    return f"{param.uniquename} ({spec.TYPE_LABELS[param.type]}{optional})"


def _plan_parameter(api: spec.CustomApiSpec, param: spec.ParameterSpec, api_id: str,
                    current: Any) -> _Result:
    label = f"{api.uniquename}.{param.uniquename}"
    if current is None:
        record = {**_parameter_record(api, param), "CustomAPIId@odata.bind": Bind("customapis", api_id)}
        summary = f"request parameter {api.uniquename}.{_parameter_label(param)}"
        return ([Finding("request parameter", label, "missing")],
                [Change("create", "customapirequestparameters", summary, record=record)])
    fixed = _differences(current, _parameter_fixed(param))
    if fixed:
        return [Finding("request parameter", label, "conflict", f"{_describe(fixed)} ({_FIXED})")], []
    mutable = _differences(current, _parameter_mutable(api, param))
    if not mutable:
        return [Finding("request parameter", label, "ok")], []
    return ([Finding("request parameter", label, "differs", _describe(mutable))],
            [Change("update", "customapirequestparameters",
                    f"request parameter {label}: {_describe(mutable)}", target_id=current.id,
                    record=_wanted_values(mutable))])


def _plan_parameters(api: spec.CustomApiSpec, existing: ExistingCustomApi) -> _Result:
    findings: list[Finding] = []
    changes: list[Change] = []
    by_name = {_fold(p.uniquename): p for p in existing.parameters}
    for param in api.parameters:
        f, c = _plan_parameter(api, param, existing.id, by_name.pop(_fold(param.uniquename), None))
        findings += f
        changes += c
    findings += [Finding("request parameter", f"{api.uniquename}.{extra.uniquename}", "extra",
                         "not used by the service; left as is") for extra in by_name.values()]
    return findings, changes


def _plan_custom_api(api: spec.CustomApiSpec, snapshot: Snapshot) -> _Result:
    existing = next((a for a in snapshot.custom_apis if _fold(a.uniquename) == _fold(api.uniquename)), None)
    if existing is None:
        record = {"uniquename": api.uniquename, **_API_FIXED, **_api_mutable(api),
                  "CustomAPIRequestParameters": [_parameter_record(api, p) for p in api.parameters]}
        params = ", ".join(_parameter_label(p) for p in api.parameters)
        change = Change("create", "customapis", f"custom API {api.uniquename} with parameters {params}",
                        record=record)
        return [Finding("custom API", api.uniquename, "missing")], [change]
    fixed = _differences(existing, _API_FIXED)
    if fixed:
        return [Finding("custom API", api.uniquename, "conflict", f"{_describe(fixed)} ({_FIXED})")], []
    if _fold(api.uniquename) not in {_fold(n) for n in snapshot.messages}:
        detail = "exists but Dataverse lists no sdkmessage of that name"
        return [Finding("custom API", api.uniquename, "conflict", detail)], []
    mutable = _differences(existing, _api_mutable(api))
    if mutable:
        findings = [Finding("custom API", api.uniquename, "differs", _describe(mutable))]
        changes = [Change("update", "customapis", f"custom API {api.uniquename}: {_describe(mutable)}",
                          target_id=existing.id, record=_wanted_values(mutable))]
    else:
        findings, changes = [Finding("custom API", api.uniquename, "ok")], []
    param_findings, param_changes = _plan_parameters(api, existing)
    return findings + param_findings, changes + param_changes


def _delete_steps(steps: Iterable[ExistingStep]) -> list[Change]:
    return [Change("delete", "sdkmessageprocessingsteps", f"step {s.name or s.id}", target_id=s.id)
            for s in steps]


def _plan_endpoint(snapshot: Snapshot, url: str | None, key: str | None) -> _Result:
    wanted: dict[str, Any] = {"authtype": spec.AUTHTYPE_HTTP_HEADER, "messageformat": spec.MESSAGEFORMAT_JSON}
    if url is not None:
        wanted["url"] = url
    writes = {**wanted, **({"authvalue": spec.authvalue(key)} if key is not None else {})}
    endpoints = sorted(snapshot.endpoints, key=lambda e: e.id)
    if not endpoints:
        record = {"name": spec.ENDPOINT_NAME, "contract": spec.CONTRACT_WEBHOOK, **writes}
        summary = f"webhook endpoint {spec.ENDPOINT_NAME} -> {url} (key in header {spec.WEBHOOK_HEADER})"
        return ([Finding("webhook endpoint", spec.ENDPOINT_NAME, "missing")],
                [Change("create", "serviceendpoints", summary, record=record,
                        produces=Ref("serviceendpoint", spec.ENDPOINT_NAME))])

    primary, extras = endpoints[0], endpoints[1:]
    findings: list[Finding] = []
    changes: list[Change] = []
    for extra in extras:
        findings.append(Finding("webhook endpoint", f"{extra.name} ({extra.id})", "extra", _DUPLICATE))
        changes += _delete_steps(s for s in snapshot.steps if s.handler_id == extra.id)
        changes.append(Change("delete", "serviceendpoints", f"duplicate webhook endpoint {extra.id}",
                              target_id=extra.id))
    diffs = _differences(primary, wanted)
    if primary.isauthvalueset is False:
        diffs["isauthvalueset"] = (False, True)
    detail = _describe(diffs) if diffs else f"url {primary.url}"
    findings.append(Finding("webhook endpoint", spec.ENDPOINT_NAME, "differs" if diffs else "ok", detail))
    if key is not None or diffs:
        what = [f"{col} -> {want!r}" for col, (_, want) in diffs.items() if col in writes]
        what += ["key rewritten (it cannot be read back)"] if key is not None else []
        changes.append(Change("update", "serviceendpoints", f"webhook endpoint {spec.ENDPOINT_NAME}: "
                              f"{', '.join(what)}", target_id=primary.id, record=writes))
    return findings, changes


def _step_wanted(api: spec.CustomApiSpec) -> dict[str, Any]:
    return {"name": api.step_name, "stage": spec.STAGE_POST_OPERATION, "mode": spec.MODE_SYNCHRONOUS}


def _new_step(api: spec.CustomApiSpec, message: str | Ref, handler: str | Ref) -> Change:
    record = {**_step_wanted(api), "rank": spec.STEP_RANK,
              "supporteddeployment": spec.SUPPORTED_DEPLOYMENT_SERVER, "asyncautodelete": False,
               "description": f"Posts {api.uniquename} to {spec.ENDPOINT_NAME}.",
              "sdkmessageid@odata.bind": Bind("sdkmessages", message),
              "eventhandler_serviceendpoint@odata.bind": Bind("serviceendpoints", handler)}
    return Change("create", "sdkmessageprocessingsteps", f"synchronous PostOperation step {api.step_name}",
                  record=record)


def _plan_step(api: spec.CustomApiSpec, snapshot: Snapshot, endpoint_id: str | None) -> _Result:
    message_id = next((i for n, i in snapshot.messages.items() if _fold(n) == _fold(api.uniquename)), None)
    ours = sorted((s for s in snapshot.steps if endpoint_id and message_id
                   and s.handler_id == endpoint_id and s.message_id == message_id), key=lambda s: s.id)
    if not ours:
        change = _new_step(api, message_id or Ref("sdkmessage", api.uniquename),
                           endpoint_id or Ref("serviceendpoint", spec.ENDPOINT_NAME))
        return [Finding("step", api.step_name, "missing")], [change]
    primary, extras = ours[0], ours[1:]
    findings = [Finding("step", e.name or e.id, "extra", _DUPLICATE) for e in extras]
    changes = _delete_steps(extras)
    diffs = _differences(primary, {**_step_wanted(api), "statecode": 0})
    if not diffs:
        return findings + [Finding("step", api.step_name, "ok")], changes
    record = _wanted_values(diffs)
    if "statecode" in record:
        record["statuscode"] = 1  # Enabled
    findings.append(Finding("step", api.step_name, "differs", _describe(diffs)))
    changes.append(Change("update", "sdkmessageprocessingsteps", f"step {api.step_name}: {_describe(diffs)}",
                          target_id=primary.id, record=record))
    return findings, changes


def plan_register(snapshot: Snapshot, url: str | None, key: str | None) -> Plan:
    """Changes that make the org match docs/deploy.md. `url=None` does not compare the URL and
    `key=None` leaves the auth value alone (both for `registration-status`)."""
    endpoint_id = min((e.id for e in snapshot.endpoints), default=None)
    results = [_plan_custom_api(api, snapshot) for api in spec.CUSTOM_APIS]
    results.append(_plan_endpoint(snapshot, url, key))
    results += [_plan_step(api, snapshot, endpoint_id) for api in spec.CUSTOM_APIS]
    known = {Ref("sdkmessage", name): row_id for name, row_id in snapshot.messages.items()}
    if endpoint_id:
        known[Ref("serviceendpoint", spec.ENDPOINT_NAME)] = endpoint_id
    return Plan(tuple(c for _, changes in results for c in changes),
                tuple(f for findings, _ in results for f in findings), known)


def plan_unregister(snapshot: Snapshot, remove_custom_apis: bool = False) -> Plan:
    """Delete the steps, then the endpoint(s); with `remove_custom_apis` also the custom APIs
    (Dataverse deletes their messages with them) and every step on those messages."""
    endpoint_ids = {e.id for e in snapshot.endpoints}
    message_ids = set(snapshot.messages.values())
    doomed = [s for s in snapshot.steps
              if s.handler_id in endpoint_ids or (remove_custom_apis and s.message_id in message_ids)]
    changes = _delete_steps(sorted(doomed, key=lambda s: s.id))
    changes += [Change("delete", "serviceendpoints", f"webhook endpoint {e.name} ({e.url})", target_id=e.id)
                for e in sorted(snapshot.endpoints, key=lambda e: e.id)]
    if remove_custom_apis:
        changes += [Change("delete", "customapis", f"custom API {a.uniquename} (and its message)",
                           target_id=a.id) for a in snapshot.custom_apis]
    return Plan(tuple(changes))
