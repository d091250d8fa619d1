"""`w365 register / unregister / registration-status` against an in-process local Dataverse."""
from __future__ import annotations

import pytest
from click.testing import CliRunner

from connectors.dataverse import odata
from plugin.cli import main
from plugin.registration import spec

URL = "https://billing.example.com/api/v1/webhooks/dataverse"
KEY = "test-webhook-key-0123456789abcdef"
API_NAMES = [api.uniquename for api in spec.CUSTOM_APIS]


@pytest.fixture(autouse=True)
def _isolated(tmp_path, monkeypatch):
    """No `.env` from the working tree leaks into the commands."""
    monkeypatch.chdir(tmp_path)


@pytest.fixture()
def cli(local_dataverse):
    """Run `w365 ...` against the module's local Dataverse; extra env overrides the defaults."""
    def run(*args: str, **env: str):
        environ = {"W365_DATAVERSE_URL": local_dataverse.url, "W365_DATAVERSE_TOKEN": "local-dev-token",
                   "W365_WEBHOOK_KEYS": "", "W365_TENANT_ID": "", "W365_CLIENT_ID": "",
                   "W365_CLIENT_SECRET": "", "W365_AUTHORITY": "", **env}
        return CliRunner().invoke(main, list(args), env=environ, catch_exceptions=False)
    return run


@pytest.fixture()
def clean(cli):
    """Start each test from an org with nothing registered."""
    result = cli("unregister", "--all")
    assert result.exit_code == 0, result.output


def _rows(client, entity_set, select, filter=None):
    """Rows without their ETags (an update changes those, not the identity)."""
    return [{k: v for k, v in row.items() if k != "@odata.etag"}
            for row in client.query(entity_set, select=select, filter=filter)]


def _registered(client) -> dict:
    """Everything of ours in the org."""
    apis = _rows(client, "customapis", ["customapiid", "uniquename", "allowedcustomprocessingsteptype",
                                        "bindingtype", "isfunction"], odata.in_("uniquename", API_NAMES))
    params = (_rows(client, "customapirequestparameters", ["customapirequestparameterid", "uniquename", "type",
                                                                  "isoptional", "_customapiid_value"],
                    odata.in_("_customapiid_value", [a["customapiid"] for a in apis])) if apis else [])
    messages = _rows(client, "sdkmessages", ["sdkmessageid", "name"], odata.in_("name", API_NAMES))
    endpoints = _rows(client, "serviceendpoints", ["serviceendpointid", "name", "url", "contract", "authtype",
                                                   "messageformat", "isauthvalueset"],
                      odata.eq("name", spec.ENDPOINT_NAME))
    steps = _rows(client, "sdkmessageprocessingsteps", ["sdkmessageprocessingstepid", "name", "stage", "mode",
                                                        "_eventhandler_value", "_sdkmessageid_value", "statecode"],
                  f"startswith(name,'{spec.ENDPOINT_NAME}')")
    return {"apis": apis, "params": params, "messages": messages, "endpoints": endpoints, "steps": steps}


def _assert_fully_registered(client, url: str = URL) -> dict:
    found = _registered(client)
    assert sorted(a["uniquename"] for a in found["apis"]) == sorted(API_NAMES)
    assert all((a["allowedcustomprocessingsteptype"], a["bindingtype"], a["isfunction"]) == (2, 0, False)
               for a in found["apis"])
    by_api = {a["customapiid"]: a["uniquename"] for a in found["apis"]}
    params = sorted((by_api[p["_customapiid_value"]], p["uniquename"], p["type"], p["isoptional"])
                    for p in found["params"])
    assert params == sorted((api.uniquename, p.uniquename, p.type, p.isoptional)
                            for api in spec.CUSTOM_APIS for p in api.parameters)
    assert sorted(m["name"] for m in found["messages"]) == sorted(API_NAMES)
    (endpoint,) = found["endpoints"]
    assert (endpoint["url"], endpoint["contract"], endpoint["authtype"], endpoint["messageformat"],
            endpoint["isauthvalueset"]) == (url, 8, 5, 2, True)
    message_ids = {m["sdkmessageid"]: m["name"] for m in found["messages"]}
    assert sorted(message_ids[s["_sdkmessageid_value"]] for s in found["steps"]) == sorted(API_NAMES)
    for step in found["steps"]:
        assert (step["stage"], step["mode"], step["statecode"]) == (40, 0, 0)
        assert step["_eventhandler_value"] == endpoint["serviceendpointid"]
    return found


def test_register_twice_leaves_exactly_one_of_each(cli, clean, dataverse_client):
    first = cli("register", "--url", URL, "--webhook-key", KEY)
    assert first.exit_code == 0, first.output
    ids = _assert_fully_registered(dataverse_client)
    second = cli("register", "--url", URL, "--webhook-key", KEY)
    assert second.exit_code == 0, second.output
    again = _assert_fully_registered(dataverse_client)
    assert again == ids  # same rows, updated in place
    assert "created" not in second.output and second.output.count("updated") == 1
    assert "key rewritten" in second.output


def test_changing_the_url_updates_the_endpoint_in_place(cli, clean, dataverse_client):
    assert cli("register", "--url", URL, "--webhook-key", KEY).exit_code == 0
    before = _registered(dataverse_client)
    other = "https://other.example.com/api/v1/webhooks/dataverse"
    result = cli("register", "--url", other, "--webhook-key", KEY)
    assert result.exit_code == 0, result.output
    after = _assert_fully_registered(dataverse_client, url=other)
    assert after["endpoints"][0]["serviceendpointid"] == before["endpoints"][0]["serviceendpointid"]
    assert sorted(s["sdkmessageprocessingstepid"] for s in after["steps"]) == sorted(
        s["sdkmessageprocessingstepid"] for s in before["steps"])


def test_status_reports_missing_parts_and_url_mismatch(cli, clean, dataverse_client):
    empty = cli("registration-status")
    assert empty.exit_code == 1
    assert empty.output.count("missing") >= 5 and "Not ready" in empty.output

    assert cli("register", "--url", URL, "--webhook-key", KEY).exit_code == 0
    ready = cli("registration-status", "--url", URL)
    assert ready.exit_code == 0, ready.output
    assert "Ready." in ready.output and "missing" not in ready.output

    assert cli("registration-status", "--url", "https://elsewhere.example.com/x").exit_code == 1
    step = _registered(dataverse_client)["steps"][0]
    dataverse_client.delete("sdkmessageprocessingsteps", step["sdkmessageprocessingstepid"])
    one_missing = cli("registration-status")
    assert one_missing.exit_code == 1
    assert f"missing  step               {step['name']}" in one_missing.output


def test_missing_parameter_and_step_are_restored(cli, clean, dataverse_client):
    assert cli("register", "--url", URL, "--webhook-key", KEY).exit_code == 0
    found = _registered(dataverse_client)
    param = next(p for p in found["params"] if p["uniquename"] == "BillingContractIds")
    dataverse_client.delete("customapirequestparameters", param["customapirequestparameterid"])
    dataverse_client.delete("sdkmessageprocessingsteps", found["steps"][0]["sdkmessageprocessingstepid"])
    result = cli("register", "--url", URL, "--webhook-key", KEY)
    assert result.exit_code == 0, result.output
    assert "created request parameter w365_GenerateInvoices.BillingContractIds (StringArray, optional)" in result.output
    _assert_fully_registered(dataverse_client)


def test_fixed_column_conflict_is_reported_and_nothing_written(cli, clean, dataverse_client):
    dataverse_client.create("customapis", {"uniquename": "w365_GenerateInvoice", "name": "w365_GenerateInvoice",
                                           "displayname": "Generate Invoice", "bindingtype": 0, "isfunction": False,
                                           "allowedcustomprocessingsteptype": 0})
    result = cli("register", "--url", URL, "--webhook-key", KEY)
    assert result.exit_code == 1
    assert "allowedcustomprocessingsteptype is 0, needs 2" in result.output and "fixed once saved" in result.output
    assert "unregister --all" in result.output and "Traceback" not in result.output
    assert _registered(dataverse_client)["endpoints"] == []
    status = cli("registration-status")
    assert status.exit_code == 1 and "conflict" in status.output and "unregister --all" in status.output
    # the remedy the message names works
    assert cli("unregister", "--all").exit_code == 0
    assert cli("register", "--url", URL, "--webhook-key", KEY).exit_code == 0
    _assert_fully_registered(dataverse_client)


def test_unregister_removes_steps_and_endpoint_but_keeps_the_apis(cli, clean, dataverse_client):
    assert cli("register", "--url", URL, "--webhook-key", KEY).exit_code == 0
    result = cli("unregister")
    assert result.exit_code == 0, result.output
    found = _registered(dataverse_client)
    assert found["steps"] == [] and found["endpoints"] == []
    assert sorted(a["uniquename"] for a in found["apis"]) == sorted(API_NAMES)
    assert cli("unregister").output.strip().endswith("Nothing to remove.")


def test_unregister_all_leaves_nothing_behind(cli, clean, dataverse_client):
    assert cli("register", "--url", URL, "--webhook-key", KEY).exit_code == 0
    api_ids = [a["customapiid"] for a in _registered(dataverse_client)["apis"]]
    result = cli("unregister", "--all")
    assert result.exit_code == 0, result.output
    assert _registered(dataverse_client) == {"apis": [], "params": [], "messages": [], "endpoints": [], "steps": []}
    assert _rows(dataverse_client, "customapirequestparameters", ["customapirequestparameterid"],
                 odata.in_("_customapiid_value", api_ids)) == []


def test_dry_run_writes_nothing(cli, clean, dataverse_client, local_dataverse):
    def operations(*args: str) -> tuple[int, object]:
        local_dataverse.reset_stats()
        result = cli(*args)
        return local_dataverse.stats()["operations"], result

    reads, status = operations("registration-status")  # reads the same snapshot, writes nothing
    ops, result = operations("register", "--url", URL, "--dry-run")
    assert result.exit_code == 0, result.output
    assert ops == reads and status.exit_code == 1 and _registered(dataverse_client)["endpoints"] == []
    assert "create  custom API w365_GenerateInvoice" in result.output
    assert "create  webhook endpoint w365-invoicing" in result.output
    assert "A new webhook key would be generated" in result.output and "nothing was written" in result.output

    assert cli("register", "--url", URL, "--webhook-key", KEY).exit_code == 0
    before = _registered(dataverse_client)
    reads, _ = operations("registration-status")
    ops, result = operations("register", "--url", "https://new.example.com/api/v1/webhooks/dataverse",
                             "--dry-run")
    assert result.exit_code == 0 and "update  webhook endpoint w365-invoicing: url ->" in result.output
    assert ops == reads and _registered(dataverse_client) == before
    ops, result = operations("unregister", "--all", "--dry-run")
    assert result.exit_code == 0 and result.output.count("delete  ") == 5
    assert ops == reads and _registered(dataverse_client) == before


def test_commands_authenticate_through_msal_over_tls(tls_dataverse, trust_local_ca):
    msal = {"W365_DATAVERSE_URL": tls_dataverse.url, "W365_DATAVERSE_TOKEN": "",
            "W365_TENANT_ID": "local-tenant", "W365_CLIENT_ID": "local-client",
            "W365_CLIENT_SECRET": "local-secret", "W365_AUTHORITY": tls_dataverse.authority,
            "W365_WEBHOOK_KEYS": ""}

    def run(*args: str, **env: str):
        return CliRunner().invoke(main, list(args), env={**msal, **env}, catch_exceptions=False)

    assert run("register", "--url", URL, "--webhook-key", KEY).exit_code == 0
    assert run("registration-status").exit_code == 0
    wrong = run("registration-status", W365_CLIENT_SECRET="not-the-secret")
    assert wrong.exit_code == 1 and "did not accept the credentials" in wrong.output
    assert "Traceback" not in wrong.output


def test_msal_over_plain_http_is_refused_with_the_way_out(cli, local_dataverse):
    result = cli("registration-status", W365_DATAVERSE_TOKEN="", W365_TENANT_ID="local-tenant",
                 W365_CLIENT_ID="local-client", W365_CLIENT_SECRET="local-secret",
                 W365_AUTHORITY=local_dataverse.authority)
    assert result.exit_code != 0 and "W365_DATAVERSE_TOKEN" in result.output
    assert "Traceback" not in result.output


def test_rejected_token_is_explained(cli):
    result = cli("register", "--url", URL, "--webhook-key", KEY, W365_DATAVERSE_TOKEN="not-a-valid-token")
    assert result.exit_code == 1 and "did not accept the credentials" in result.output


@pytest.mark.parametrize("url", ["http://billing.example.com/api/v1/webhooks/dataverse", "not a url",
                                 "ftp://billing.example.com/hook"])
def test_bad_urls_are_refused_before_any_request(cli, local_dataverse, url):
    local_dataverse.reset_stats()
    result = cli("register", "--url", url, "--webhook-key", KEY)
    assert result.exit_code == 2
    assert "--url" in result.output and "Traceback" not in result.output
    assert local_dataverse.stats()["http_requests"] == 0


def test_loopback_http_is_accepted(cli, clean, dataverse_client):
    url = "http://127.0.0.1:5000/api/v1/webhooks/dataverse"
    assert cli("register", "--url", url, "--webhook-key", KEY).exit_code == 0
    _assert_fully_registered(dataverse_client, url=url)


def test_generated_key_is_printed_once_and_env_key_is_reused(cli, clean):
    result = cli("register", "--url", URL)
    assert result.exit_code == 0, result.output
    line = next(line for line in result.output.splitlines() if line.startswith("New webhook key"))
    key = line.rsplit(" ", 1)[1]
    assert len(key) >= 40 and result.output.count(key) == 1 and "W365_WEBHOOK_KEYS" in result.output
    again = cli("register", "--url", URL, W365_WEBHOOK_KEYS=f"{key},older-key")
    assert again.exit_code == 0 and "New webhook key" not in again.output
