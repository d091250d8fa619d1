"""The pages against an API that needs a key: from the URL fragment, or typed in after a 401."""
from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests import factories
from tests.browser.conftest import serve_plugin

pytestmark = pytest.mark.browser

KEY = "pages-key-for-tests"


@pytest.fixture(scope="module")
def keyed_server(local_dataverse, dataverse_client, tmp_path_factory):
    server = serve_plugin(local_dataverse, dataverse_client, tmp_path_factory.mktemp("keyed"),
                          api_auth=("keys",), api_keys=(KEY,))
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def contract_id(dataverse_client):
    world = factories.make_world(dataverse_client)
    return factories.license_contract(dataverse_client, world, name="Keyed Contract")["contract_id"]


def test_key_in_the_fragment_is_kept_for_the_tab_and_removed_from_the_address(page, keyed_server,
                                                                              contract_id):
    page.goto(f"{keyed_server.url}/pages/generate?id={contract_id}#key={KEY}")
    expect(page.locator("#contract-name")).to_have_text("Keyed Contract")
    expect(page.locator("#preview-table")).to_be_visible()
    assert "key=" not in page.url
    assert page.evaluate("sessionStorage.getItem('w365.apiKey')") == KEY


def test_without_a_key_the_page_asks_for_one(page, keyed_server, contract_id):
    page.goto(f"{keyed_server.url}/pages/bulk?ids={contract_id}")
    expect(page.locator("#page-error")).to_contain_text("API key")
    key_field = page.get_by_label("API key")
    expect(key_field).to_be_focused()
    key_field.fill("wrong")
    key_field.press("Enter")
    expect(page.locator("#key-form")).to_be_visible()
    page.get_by_label("API key").fill(KEY)
    page.get_by_role("button", name="Use key").click()
    expect(page.get_by_role("rowheader", name="Keyed Contract")).to_be_visible()
    expect(page.locator("#key-form")).to_be_hidden()
