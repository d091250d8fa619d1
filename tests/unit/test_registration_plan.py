"""The pure registration planner: snapshot in, findings and ordered changes out."""
from __future__ import annotations

import pytest

from plugin.registration import (Bind, ExistingCustomApi, ExistingEndpoint, ExistingParameter, ExistingStep, Ref,
                                 Snapshot, plan_register, plan_unregister, spec)

URL = "https://billing.example.com/api/v1/webhooks/dataverse"
KEY = "k" * 43
GENERATE, GENERATE_MANY = spec.CUSTOM_APIS
ENDPOINT_ID = "e0000000-0000-0000-0000-000000000001"


def _api_id(api: spec.CustomApiSpec) -> str:
    return "a0000000-0000-0000-0000-00000000000" + str(spec.CUSTOM_APIS.index(api) + 1)


def _message_id(api: spec.CustomApiSpec) -> str:
    return "m0000000-0000-0000-0000-00000000000" + str(spec.CUSTOM_APIS.index(api) + 1)


def _existing_api(api: spec.CustomApiSpec, **overrides) -> ExistingCustomApi:
    params = tuple(ExistingParameter(id=f"p-{api.uniquename}-{p.uniquename}", customapi_id=_api_id(api),
                                     uniquename=p.uniquename, name=spec.parameter_name(api, p),
                                     displayname=p.uniquename, description=p.description, type=p.type,
                                     isoptional=p.isoptional) for p in api.parameters)
    values = dict(id=_api_id(api), uniquename=api.uniquename, name=api.uniquename, displayname=api.displayname,
                  description=api.description, bindingtype=0, isfunction=False,
                  allowedcustomprocessingsteptype=2, parameters=params)
    values.update(overrides)
    return ExistingCustomApi(**values)


def _existing_step(api: spec.CustomApiSpec, step_id: str = "", **overrides) -> ExistingStep:
    values = dict(id=step_id or f"s-{api.uniquename}", name=api.step_name, message_id=_message_id(api),
                  handler_id=ENDPOINT_ID, stage=40, mode=0, statecode=0)
    values.update(overrides)
    return ExistingStep(**values)


def _registered(**overrides) -> Snapshot:
    """A snapshot of a fully registered org."""
    values = dict(
        custom_apis=tuple(_existing_api(a) for a in spec.CUSTOM_APIS),
        messages={a.uniquename: _message_id(a) for a in spec.CUSTOM_APIS},
        endpoints=(ExistingEndpoint(id=ENDPOINT_ID, name=spec.ENDPOINT_NAME, url=URL, authtype=5, messageformat=2,
                                    isauthvalueset=True),),
        steps=tuple(_existing_step(a) for a in spec.CUSTOM_APIS),
    )
    values.update(overrides)
    return Snapshot(**values)


def _actions(plan):
    return [(c.action, c.entity_set) for c in plan.changes]


def test_empty_org_creates_everything_in_dependency_order():
    plan = plan_register(Snapshot(), URL, KEY)
    assert _actions(plan) == [("create", "customapis"), ("create", "customapis"), ("create", "serviceendpoints"),
                              ("create", "sdkmessageprocessingsteps"), ("create", "sdkmessageprocessingsteps")]
    assert {f.state for f in plan.findings} == {"missing"}
    assert plan.problems and not plan.conflicts


def test_custom_api_record_matches_design():
    api = plan_register(Snapshot(), URL, KEY).changes[0].record
    assert api["uniquename"] == "w365_GenerateInvoice"
    assert (api["bindingtype"], api["isfunction"], api["allowedcustomprocessingsteptype"]) == (0, False, 2)
    params = {p["uniquename"]: (p["type"], p["isoptional"]) for p in api["CustomAPIRequestParameters"]}
    assert params == {"BillingContractId": (12, False), "Cycle": (10, True), "OnExisting": (10, True)}
    many = plan_register(Snapshot(), URL, KEY).changes[1].record
    params = {p["uniquename"]: (p["type"], p["isoptional"]) for p in many["CustomAPIRequestParameters"]}
    assert params == {"RunId": (10, False), "Rows": (10, True), "BillingContractIds": (11, True),
                      "TriggerPostInvoicingTasks": (0, True)}


def test_endpoint_and_step_records():
    changes = plan_register(Snapshot(), URL, "secret-key-123456").changes
    endpoint = changes[2]
    assert endpoint.record == {
        "name": "w365-invoicing", "contract": 8, "url": URL, "authtype": 5, "messageformat": 2,
        "authvalue": '<settings><setting name="x-w365-webhook-key" value="secret-key-123456" /></settings>'}
    assert endpoint.produces == Ref("serviceendpoint", "w365-invoicing")
    step = changes[3].record
    assert (step["stage"], step["mode"], step["name"]) == (40, 0, "w365-invoicing: w365_GenerateInvoice")
    assert step["eventhandler_serviceendpoint@odata.bind"] == Bind("serviceendpoints",
                                                                  Ref("serviceendpoint", "w365-invoicing"))
    assert step["sdkmessageid@odata.bind"] == Bind("sdkmessages", Ref("sdkmessage", "w365_GenerateInvoice"))


def test_authvalue_escapes_the_key():
    assert spec.authvalue('a"b<&') == '<settings><setting name="x-w365-webhook-key" value="a&quot;b&lt;&amp;" /></settings>'


def test_registered_org_only_rewrites_the_key():
    plan = plan_register(_registered(), URL, KEY)
    assert {f.state for f in plan.findings} == {"ok"}
    assert _actions(plan) == [("update", "serviceendpoints")]
    assert plan.changes[0].target_id == ENDPOINT_ID
    assert plan.changes[0].record["authvalue"] == spec.authvalue(KEY)


def test_status_of_registered_org_has_no_changes_and_no_problems():
    plan = plan_register(_registered(), None, None)
    assert plan.changes == () and plan.problems == ()


def test_new_url_updates_the_endpoint_in_place():
    plan = plan_register(_registered(), "https://other.example.com/api/v1/webhooks/dataverse", KEY)
    (change,) = plan.changes
    assert change.action == "update" and change.target_id == ENDPOINT_ID
    assert change.record["url"] == "https://other.example.com/api/v1/webhooks/dataverse"
    endpoint = next(f for f in plan.findings if f.component == "webhook endpoint")
    assert endpoint.state == "differs" and "url" in endpoint.detail


def test_status_with_other_url_reports_the_difference():
    plan = plan_register(_registered(), "https://other.example.com/x", None)
    assert [f.component for f in plan.problems] == ["webhook endpoint"]


def test_missing_parameter_is_added_to_the_existing_api():
    api = _existing_api(GENERATE_MANY)
    api = ExistingCustomApi(**{**api.__dict__, "parameters": api.parameters[:2]})
    plan = plan_register(_registered(custom_apis=(_existing_api(GENERATE), api)), URL, None)
    assert _actions(plan) == [("create", "customapirequestparameters")] * 2
    record = plan.changes[0].record
    assert record["uniquename"] == "BillingContractIds" and record["type"] == 11
    assert record["CustomAPIId@odata.bind"] == Bind("customapis", _api_id(GENERATE_MANY))


def test_fixed_column_difference_is_a_conflict_not_a_change():
    plan = plan_register(_registered(custom_apis=(_existing_api(GENERATE, allowedcustomprocessingsteptype=0),
                                                  _existing_api(GENERATE_MANY))), URL, KEY)
    (conflict,) = plan.conflicts
    assert conflict.name == "w365_GenerateInvoice"
    assert "allowedcustomprocessingsteptype" in conflict.detail and "fixed once saved" in conflict.detail
    assert all(c.entity_set != "customapis" for c in plan.changes)


def test_parameter_type_difference_is_a_conflict():
    api = _existing_api(GENERATE)
    params = (ExistingParameter(**{**api.parameters[0].__dict__, "type": 10}),) + api.parameters[1:]
    plan = plan_register(_registered(custom_apis=(ExistingCustomApi(**{**api.__dict__, "parameters": params}),
                                                  _existing_api(GENERATE_MANY))), URL, KEY)
    assert [(f.name, f.state) for f in plan.conflicts] == [("w365_GenerateInvoice.BillingContractId", "conflict")]


def test_changed_display_name_is_updated():
    plan = plan_register(_registered(custom_apis=(_existing_api(GENERATE, displayname="Old"),
                                                  _existing_api(GENERATE_MANY))), None, None)
    (change,) = plan.changes
    assert (change.action, change.entity_set, change.record) == ("update", "customapis",
                                                                  {"displayname": "Generate Invoice"})


def test_extra_parameter_is_reported_and_kept():
    api = _existing_api(GENERATE)
    extra = ExistingParameter(id="p-x", customapi_id=api.id, uniquename="Legacy", type=10, isoptional=True)
    api = ExistingCustomApi(**{**api.__dict__, "parameters": api.parameters + (extra,)})
    plan = plan_register(_registered(custom_apis=(api, _existing_api(GENERATE_MANY))), None, None)
    assert [(f.name, f.state) for f in plan.findings if f.state != "ok"] == [("w365_GenerateInvoice.Legacy", "extra")]
    assert plan.changes == () and plan.problems == ()


def test_disabled_or_wrong_stage_step_is_updated():
    steps = (_existing_step(GENERATE, stage=20, statecode=1), _existing_step(GENERATE_MANY))
    plan = plan_register(_registered(steps=steps), None, None)
    (change,) = plan.changes
    assert change.record == {"stage": 40, "statecode": 0, "statuscode": 1}


def test_duplicate_steps_and_endpoints_are_removed():
    extra_endpoint = ExistingEndpoint(id="e0000000-0000-0000-0000-000000000009", name=spec.ENDPOINT_NAME,
                                      url=URL, authtype=5, messageformat=2, isauthvalueset=True)
    steps = (_existing_step(GENERATE), _existing_step(GENERATE, "s-zdup"), _existing_step(GENERATE_MANY),
             _existing_step(GENERATE_MANY, "s-on-extra", handler_id=extra_endpoint.id))
    snapshot = _registered(endpoints=_registered().endpoints + (extra_endpoint,), steps=steps)
    plan = plan_register(snapshot, URL, KEY)
    deletes = [(c.entity_set, c.target_id) for c in plan.changes if c.action == "delete"]
    assert deletes == [("sdkmessageprocessingsteps", "s-on-extra"), ("serviceendpoints", extra_endpoint.id),
                       ("sdkmessageprocessingsteps", "s-zdup")]


def test_step_on_other_handler_is_not_ours():
    foreign = _existing_step(GENERATE, "s-foreign", handler_id="f0000000-0000-0000-0000-000000000000")
    plan = plan_register(_registered(steps=(foreign, _existing_step(GENERATE_MANY))), URL, None)
    (change,) = plan.changes
    assert change.action == "create" and change.record["name"] == GENERATE.step_name
    assert change.record["eventhandler_serviceendpoint@odata.bind"] == Bind("serviceendpoints", ENDPOINT_ID)
    assert change.record["sdkmessageid@odata.bind"] == Bind("sdkmessages", _message_id(GENERATE))


def test_endpoint_without_key_is_a_problem():
    endpoint = ExistingEndpoint(id=ENDPOINT_ID, name=spec.ENDPOINT_NAME, url=URL, authtype=5, messageformat=2,
                                isauthvalueset=False)
    plan = plan_register(_registered(endpoints=(endpoint,)), None, None)
    assert [f.component for f in plan.problems] == ["webhook endpoint"]


def test_unregister_deletes_steps_then_endpoint_and_keeps_apis():
    foreign = _existing_step(GENERATE, "s-foreign", handler_id="f0000000-0000-0000-0000-000000000000")
    snapshot = _registered(steps=_registered().steps + (foreign,))
    plan = plan_unregister(snapshot)
    assert [(c.entity_set, c.target_id) for c in plan.changes] == [
        ("sdkmessageprocessingsteps", "s-w365_GenerateInvoice"),
        ("sdkmessageprocessingsteps", "s-w365_GenerateInvoices"),
        ("serviceendpoints", ENDPOINT_ID)]


def test_unregister_all_also_deletes_apis_and_every_step_on_their_messages():
    foreign = _existing_step(GENERATE, "s-foreign", handler_id="f0000000-0000-0000-0000-000000000000")
    plan = plan_unregister(_registered(steps=_registered().steps + (foreign,)), remove_custom_apis=True)
    assert _actions(plan) == [("delete", "sdkmessageprocessingsteps")] * 3 + [("delete", "serviceendpoints")] + [
        ("delete", "customapis")] * 2


def test_unregister_of_empty_org_does_nothing():
    assert plan_unregister(Snapshot(), remove_custom_apis=True).changes == ()


@pytest.mark.parametrize("url", ["https://billing.example.com/api/v1/webhooks/dataverse",
                                 "http://127.0.0.1:5000/api/v1/webhooks/dataverse",
                                 "http://localhost/api/v1/webhooks/dataverse", "http://[::1]:80/api/v1/webhooks/dataverse"])
def test_accepted_urls(url):
    from plugin.registration import check_webhook_url

    assert check_webhook_url(url) == []


@pytest.mark.parametrize("url, reason", [
    ("http://billing.example.com/api/v1/webhooks/dataverse", "https"),
    ("ftp://billing.example.com/x", "http(s)"),
    ("billing.example.com/api", "http(s)"),
    ("https://", "http(s)"),
    ("https://bill ing.example.com/", "spaces"),
    ("https://user:pw@billing.example.com/", "credentials"),
    ("https://billing.example.com:99999/", "valid URL"),
    ("https://billing.example.com/#x", "fragment"),
])
def test_refused_urls(url, reason):
    from plugin.registration import InvalidInput, check_webhook_url

    with pytest.raises(InvalidInput, match=reason.replace("(", r"\(").replace(")", r"\)")):
        check_webhook_url(url)


def test_url_warnings_for_port_and_path():
    from plugin.registration import check_webhook_url

    warnings = check_webhook_url("https://billing.example.com:8443/hook")
    assert len(warnings) == 2 and "port 8443" in warnings[0]


def test_webhook_key_checks():
    from plugin.registration import InvalidInput, check_webhook_key, new_webhook_key

    assert check_webhook_key(new_webhook_key()) == []
    assert check_webhook_key("short")  # a warning
    for bad in ("", "a,b" * 10, "with space" * 3, "x" * 2100):
        with pytest.raises(InvalidInput):
            check_webhook_key(bad)
