"""Sign-in as a billing user would do it, in Chromium: the local Dataverse plays Entra ID over TLS.

The pages send the browser to the authority's sign-in page, the user picks themselves, the service
exchanges the code (msal, authorization code with PKCE) and every action of the bulk window is theirs:
the run records them, and Dataverse enforces their role (a role-0 user's row fails, no invoice).
"""
from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from connectors.dataverse import DataverseClient
from connectors.dataverse.auth import token_provider
from plugin.cli.serve import BackgroundServer
from plugin.config import Config
from tests import factories
from tests.browser.conftest import DIALOG_SIZE, screenshot

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def module_trust(tls_dataverse):
    """requests (so msal and the connector) trust the local CA for this module, as the docs say."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("REQUESTS_CA_BUNDLE", tls_dataverse.ca_path)
        patch.setenv("SSL_CERT_FILE", tls_dataverse.ca_path)
        yield tls_dataverse.ca_path


@pytest.fixture(scope="module")
def tls_client(tls_dataverse, module_trust):
    return DataverseClient(tls_dataverse.url, token_provider=token_provider(
        resource_url=tls_dataverse.url, fixed_token="local-dev-token"))


@pytest.fixture()
def signin_server(tls_dataverse, tls_client, tmp_path):
    from plugin.app import create_app

    config = Config(dataverse_url=tls_dataverse.url, api_auth=("keys",), api_keys=("machine-key",),
                    pages_auth="entra", entra_client_id="local-client", entra_client_secret="local-secret",
                    entra_authority=f"{tls_dataverse.url}/local", session_secret="browser-test-secret",
                    outbox_dir=str(tmp_path / "outbox"))
    server = BackgroundServer(create_app(config, dataverse=tls_client)).start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def people(tls_client):
    world = factories.make_world(tls_client)
    billing = factories.create_user(tls_client, role=2, fullname="Pat Billing")
    nobody = factories.create_user(tls_client, role=0, fullname="Sam Sales-Only")
    return world, billing, nobody


@pytest.fixture()
def tab(browser):
    """A tab that accepts the local Dataverse's self-signed certificate (as a user who trusts its CA)."""
    context = browser.new_context(viewport=DIALOG_SIZE, ignore_https_errors=True, locale="en-US")
    page = context.new_page()
    page.set_default_timeout(20_000)
    yield page
    context.close()


def sign_in(tab, server, contract_id: str, full_name: str) -> None:
    tab.goto(f"{server.url}/pages/bulk?ids={contract_id}")
    expect(tab).to_have_url(re.compile(r"^https://127\.0\.0\.1:\d+/local/oauth2/v2\.0/authorize\?"))
    screenshot(tab, "signin-picker")
    tab.locator("tr", has_text=full_name).get_by_role("button", name="Sign in").click()
    expect(tab).to_have_url(re.compile(rf"^{re.escape(server.url)}/pages/bulk\?ids="))
    expect(tab.locator("#user-name")).to_have_text(full_name)


def test_a_billing_user_signs_in_and_the_run_is_theirs(tab, signin_server, tls_client, people):
    world, billing, _ = people
    contract = factories.license_contract(tls_client, world, name="Signed Contract")["contract_id"]
    sign_in(tab, signin_server, contract, "Pat Billing")
    expect(tab.locator("#rows tbody tr")).to_have_count(1)
    tab.get_by_role("button", name="Proceed").click()
    expect(tab.locator("#progress-text")).to_contain_text("Finished: 1 created", timeout=60_000)
    run_id = tab.url.rsplit("run=", 1)[1]
    run = tls_client.get("w365_invoiceruns", run_id)
    assert run["_w365_initiatinguser_value"] == billing["systemuserid"] and run["w365_source"] == 3
    assert len(factories.invoices_of(tls_client, contract)) == 1

    tab.goto(f"{signin_server.url}/pages/runs")  # the user's own runs
    expect(tab.locator("#runs tbody tr")).to_have_count(1)
    tab.get_by_role("button", name="Sign out").click()
    expect(tab.locator("#page-error")).to_contain_text("You are signed out")
    tab.goto(f"{signin_server.url}/pages/runs")
    expect(tab).to_have_url(re.compile(r"/local/oauth2/v2\.0/authorize\?"))


def test_a_user_without_the_invoice_privilege_gets_a_failed_row_and_no_invoice(tab, signin_server, tls_client,
                                                                              people):
    world, _, nobody = people
    contract = factories.license_contract(tls_client, world, name="Refused Contract")["contract_id"]
    sign_in(tab, signin_server, contract, "Sam Sales-Only")
    tab.get_by_role("button", name="Proceed").click()
    expect(tab.locator("#progress-text")).to_contain_text("Finished: 0 created, 0 skipped, 1 failed",
                                                          timeout=60_000)
    expect(tab.locator("#rows tbody tr .result")).to_contain_text("privilege")
    screenshot(tab, "signin-role0-failed")
    run = tls_client.get("w365_invoiceruns", tab.url.rsplit("run=", 1)[1])
    assert run["_w365_initiatinguser_value"] == nobody["systemuserid"]
    assert factories.invoices_of(tls_client, contract) == []


def test_inside_the_dynamics_frame_sign_in_runs_in_a_popup(tab, signin_server, tls_client, people):
    world, billing, _ = people
    contract = factories.license_contract(tls_client, world, name="Framed Sign-in")["contract_id"]
    tab.goto(f"{signin_server.url}/pages/signed-out")  # any page of the service: it frames the window
    tab.evaluate("""(src) => document.body.replaceChildren(
        Object.assign(document.createElement("iframe"), {src, id: "frame", style: "width:900px;height:500px"}))""",
                 f"{signin_server.url}/pages/bulk?ids={contract}")
    frame = tab.frame_locator("#frame")
    expect(frame.locator("#signin-needed")).to_contain_text("Sign in with your work account")
    with tab.expect_popup() as popup_info:
        frame.get_by_role("button", name="Sign in").click()
    popup = popup_info.value
    expect(popup).to_have_url(re.compile(r"/local/oauth2/v2\.0/authorize\?"))
    popup.locator("tr", has_text="Pat Billing").get_by_role("button", name="Sign in").click()
    popup.wait_for_event("close", timeout=20_000)
    expect(frame.locator("#rows tbody tr")).to_have_count(1)  # the frame reloaded, signed in
    expect(frame.locator("#user-name")).to_have_text("Pat Billing")
