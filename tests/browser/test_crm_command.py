"""The command-button script (crm/w365_generate_invoice.js) in Chromium, with a fake `Xrm`."""
from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import quote

import pytest

pytestmark = pytest.mark.browser

SCRIPT = Path(__file__).resolve().parents[2] / "crm" / "w365_generate_invoice.js"
A = "3f2504e0-4f89-11d3-9a0c-0305e82c3301"
B = "6ba7b810-9dad-11d1-80b4-00c04fd430c8"
HOST = "((search) => W365.GenerateInvoice.host(document.getElementById('frame'), search))"

# A model-driven app's Xrm, reduced to what the script uses; every call is recorded in window.calls.
FAKE_XRM = """
window.calls = [];
window.variables = {w365_PluginUrl: "https://invoicing.contoso.com/", w365_PluginPagesKey: "k 1"};  // a stale key is ignored
window.Xrm = {
  WebApi: {retrieveMultipleRecords: (entity, options) => {
    const name = /schemaname eq '([^']+)'/.exec(options)[1];
    if (!(name in window.variables)) return Promise.resolve({entities: []});
    return Promise.resolve({entities: [{schemaname: name, defaultvalue: "ignored-default",
      environmentvariabledefinition_environmentvariablevalue: [{value: window.variables[name]}]}]});
  }},
  Navigation: {
    navigateTo: (input, options) => {
      calls.push(["navigateTo", input, options]);
      return Promise.resolve();
    },
    openUrl: (url, options) => { calls.push(["openUrl", url, options]); },
    openAlertDialog: (alert) => { calls.push(["alert", alert.text]); return Promise.resolve(); },
  },
  Utility: {getGlobalContext: () => ({getClientUrl: () => "https://contoso.crm.dynamics.com"})},
};
"""


@pytest.fixture
def crm(page):
    page.set_content("<!doctype html><html><body><iframe id='frame'></iframe></body></html>")
    page.evaluate(FAKE_XRM)
    page.add_script_tag(path=str(SCRIPT))
    return page


def form_control(record_id: str) -> str:
    return (f"({{data: {{entity: {{getId: () => {json.dumps(record_id)}}}, "
            "refresh: (save) => calls.push(['refresh', save])}})")


def test_form_button_opens_the_dialog_for_the_current_record(crm):
    control = form_control("{" + A.upper() + "}")
    calls = crm.evaluate(f"W365.GenerateInvoice.fromForm({control}).then(() => calls)")
    (kind, page_input, options), refresh = calls
    assert kind == "navigateTo"
    assert page_input["pageType"] == "webresource"
    assert page_input["webresourceName"] == "w365_generate_invoice_host.html"
    assert json.loads(page_input["data"]) == {"page": "generate", "ids": [A]}
    assert options["target"] == 2 and options["title"] == "Generate Invoice"
    assert refresh == ["refresh", False]


def test_form_button_on_an_unsaved_record_asks_to_save(crm):
    calls = crm.evaluate(f"W365.GenerateInvoice.fromForm({form_control('')}).then(() => calls)")
    assert calls == [["alert", "Save the billing contract first."]]


def test_grid_button_opens_the_bulk_window_for_the_selected_rows(crm):
    calls = crm.evaluate(
        f"W365.GenerateInvoice.fromGrid(['{{{A}}}', '{{{B.upper()}}}', '{{{A}}}'], "
        "{refresh: () => calls.push(['grid-refresh'])}).then(() => calls)")
    assert json.loads(calls[0][1]["data"]) == {"page": "bulk", "ids": [A, B]}
    assert calls[1] == ["grid-refresh"]
    assert crm.evaluate("W365.GenerateInvoice.fromGrid([]).then(() => calls.slice(-1))") == [
        ["alert", "Select at least one billing contract."]]


def test_window_mode_opens_the_plugin_url_with_no_key_and_no_org(crm):
    crm.evaluate("window.variables.w365_PluginOpenMode = 'window'")
    calls = crm.evaluate(f"W365.GenerateInvoice.fromGrid(['{{{A}}}', '{{{B}}}']).then(() => calls)")
    kind, url, size = calls[0]
    assert kind == "openUrl"
    assert url == f"https://invoicing.contoso.com/pages/bulk?ids={A},{B}"
    assert size["width"] >= 1000


def test_a_long_selection_is_posted_to_the_bulk_window(crm):
    ids = [f"00000000-0000-4000-8000-{i:012d}" for i in range(150)]
    crm.evaluate("""() => {
        window.posted = [];
        HTMLFormElement.prototype.submit = function () {
            posted.push({action: this.action, method: this.method, target: this.target,
                         ids: this.elements.ids.value});
        };
    }""")
    search = "?data=" + quote(json.dumps({"page": "bulk", "ids": ids}))
    crm.evaluate(f"{HOST}({json.dumps(search)})")
    (posted,) = crm.evaluate("window.posted")
    assert posted["action"] == "https://invoicing.contoso.com/pages/bulk"
    assert posted["method"] == "post" and posted["ids"] == ",".join(ids)
    assert posted["target"] == crm.evaluate("document.getElementById('frame').name")


def test_host_frames_only_the_configured_plugin(crm):
    search = "?data=" + quote(json.dumps({"page": "generate", "ids": ["{" + A + "}"]}))
    src = crm.evaluate(f"{HOST}({json.dumps(search)})"
                       ".then(() => document.getElementById('frame').src)")
    assert src == f"https://invoicing.contoso.com/pages/generate?id={A}"
    error = crm.evaluate(f"{HOST}('?data=%7B%7D').then(() => 'opened', (e) => e.message)")
    assert error == "The dialog was opened without billing contracts."


def test_a_missing_plugin_url_is_reported_to_the_user(crm):
    crm.evaluate("delete window.variables.w365_PluginUrl")
    calls = crm.evaluate(f"W365.GenerateInvoice.fromGrid(['{A}']).then(() => calls)")
    assert calls[0][0] == "navigateTo"  # dialog mode: the host reports it when it builds the URL
    search = "?data=" + quote(json.dumps({"page": "bulk", "ids": [A]}))
    error = crm.evaluate(f"{HOST}({json.dumps(search)}).then(() => 'opened', (e) => e.message)")
    assert "w365_PluginUrl" in error


def test_no_key_is_ever_read_or_passed_by_the_command_script(crm):
    source = SCRIPT.read_text()
    assert "PagesKey" not in source and "#key=" not in source
    crm.evaluate("window.variables.w365_PluginOpenMode = 'window'")
    calls = crm.evaluate(f"W365.GenerateInvoice.fromGrid(['{A}']).then(() => calls)")
    assert "key" not in calls[0][1]
