"""Read the registration components that exist in the org into a `Snapshot` (five small queries)."""
from __future__ import annotations

from typing import Any

from connectors.dataverse import DataverseClient, odata

from . import spec
from .model import ExistingCustomApi, ExistingEndpoint, ExistingParameter, ExistingStep, Snapshot

_API_COLUMNS = ("customapiid", "uniquename", "name", "displayname", "description", "bindingtype",
                "isfunction", "allowedcustomprocessingsteptype")
_PARAMETER_COLUMNS = ("customapirequestparameterid", "_customapiid_value", "uniquename", "name",
                      "displayname", "description", "type", "isoptional")
_ENDPOINT_COLUMNS = ("serviceendpointid", "name", "url", "authtype", "messageformat", "isauthvalueset")
_STEP_COLUMNS = ("sdkmessageprocessingstepid", "name", "_sdkmessageid_value", "_eventhandler_value",
                 "stage", "mode", "statecode")


def _id(value: Any) -> Any:
    """Row ids compared as lower-case text (Dataverse ignores GUID case)."""
    return value.lower() if isinstance(value, str) else value


def _parameters(client: DataverseClient, api_ids: list[str]) -> dict[str, list[ExistingParameter]]:
    by_api: dict[str, list[ExistingParameter]] = {i: [] for i in api_ids}
    if not api_ids:
        return by_api
    rows = client.query_in("customapirequestparameters", "_customapiid_value", api_ids,
                           select=_PARAMETER_COLUMNS)
    for row in rows:
        api_id = _id(row["_customapiid_value"])
        by_api.setdefault(api_id, []).append(ExistingParameter(
            id=_id(row["customapirequestparameterid"]), customapi_id=api_id, uniquename=row["uniquename"],
            name=row.get("name"), displayname=row.get("displayname"), description=row.get("description"),
            type=row.get("type"), isoptional=row.get("isoptional")))
    return by_api


def _custom_apis(client: DataverseClient) -> tuple[ExistingCustomApi, ...]:
    names = [api.uniquename for api in spec.CUSTOM_APIS]
    rows = list(client.query("customapis", select=_API_COLUMNS, filter=odata.in_("uniquename", names)))
    params = _parameters(client, [_id(row["customapiid"]) for row in rows])
    return tuple(ExistingCustomApi(
        id=_id(row["customapiid"]), uniquename=row["uniquename"], name=row.get("name"),
        displayname=row.get("displayname"), description=row.get("description"),
        bindingtype=row.get("bindingtype"), isfunction=row.get("isfunction"),
        allowedcustomprocessingsteptype=row.get("allowedcustomprocessingsteptype"),
        parameters=tuple(params.get(_id(row["customapiid"]), ()))) for row in rows)


def read_messages(client: DataverseClient, names: list[str]) -> dict[str, str]:
    """sdkmessage name -> id for the messages of these names that exist."""
    rows = client.query("sdkmessages", select=("sdkmessageid", "name"), filter=odata.in_("name", names))
    return {row["name"]: _id(row["sdkmessageid"]) for row in rows}


def _endpoints(client: DataverseClient) -> tuple[ExistingEndpoint, ...]:
    condition = odata.and_(odata.eq("contract", spec.CONTRACT_WEBHOOK), odata.eq("name", spec.ENDPOINT_NAME))
    rows = client.query("serviceendpoints", select=_ENDPOINT_COLUMNS, filter=condition)
    return tuple(ExistingEndpoint(
        id=_id(row["serviceendpointid"]), name=row["name"], url=row.get("url"), authtype=row.get("authtype"),
        messageformat=row.get("messageformat"), isauthvalueset=row.get("isauthvalueset")) for row in rows)


def _steps(client: DataverseClient, endpoint_ids: list[str],
           message_ids: list[str]) -> tuple[ExistingStep, ...]:
    """Steps bound to the endpoints or registered on the messages (anyone's: unregister --all needs them)."""
    conditions = [odata.in_(col, ids) for col, ids in
                  (("_eventhandler_value", endpoint_ids), ("_sdkmessageid_value", message_ids)) if ids]
    if not conditions:
        return ()
    rows = client.query("sdkmessageprocessingsteps", select=_STEP_COLUMNS, filter=odata.or_(*conditions))
    return tuple(ExistingStep(
        id=_id(row["sdkmessageprocessingstepid"]), name=row.get("name"),
        message_id=_id(row.get("_sdkmessageid_value")), handler_id=_id(row.get("_eventhandler_value")),
        stage=row.get("stage"), mode=row.get("mode"), statecode=row.get("statecode")) for row in rows)


def read_snapshot(client: DataverseClient) -> Snapshot:
    """What the org holds of the service's custom APIs, their messages, the endpoint and its steps."""
    custom_apis = _custom_apis(client)
    messages = read_messages(client, [api.uniquename for api in spec.CUSTOM_APIS])
    endpoints = _endpoints(client)
    steps = _steps(client, [e.id for e in endpoints], list(messages.values()))
    return Snapshot(custom_apis, messages, endpoints, steps)
