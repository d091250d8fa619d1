"""The dialog's Change Log tab in headless Chromium, against the local Dataverse."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
import requests
from playwright.sync_api import expect

from tests import factories
from tests.browser.conftest import screenshot

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def world(dataverse_client):
    return factories.make_world(dataverse_client)


def today():
    return datetime.now(timezone.utc).date()


def test_change_log_tab_previews_and_creates(page, plugin_server, dataverse_client, world):
    client = dataverse_client
    start = today() - timedelta(days=40)  # the current quarterly cycle began 40 days ago
    ids = factories.license_contract(client, world, start=start.isoformat(), frequency=3, name="Fabrikam — E5")
    cid = ids["contract_id"]
    response = requests.post(f"{plugin_server.url}/api/v1/invoices",
                             json={"billing_contract_id": cid, "cycle": start.isoformat()}, timeout=30)
    assert response.status_code == 201, response.text
    lcl = factories.create_change_log(client, ids["subscription_id"], cid, effective=start + timedelta(days=20),
                                      delta=4)
    factories.create_nri(client, cid, effective=start + timedelta(days=5), name="Migration workshop")

    page.goto(f"{plugin_server.url}/pages/generate?id={cid}")
    tab = page.get_by_role("tab", name="Change Log")
    expect(tab).to_be_visible()
    tab.click()
    expect(page.locator("#form")).to_be_hidden()
    as_of = page.get_by_label("As of")
    expect(as_of).to_have_value(today().isoformat())
    table = page.locator("#change-log-table")
    expect(table).to_be_visible()
    headings = table.locator("tbody.category th[scope=rowgroup]")
    expect(headings).to_have_count(3)
    expect(headings.nth(0)).to_contain_text("Mid-Cycle Change")
    expect(table).to_contain_text("Migration workshop")
    expect(table.locator("tbody.category").nth(0)).not_to_contain_text("none")

    as_of.fill((start + timedelta(days=10)).isoformat())  # before the +4: only the workshop
    expect(headings.nth(0)).to_contain_text("Mid-Cycle Change — none")
    expect(table).to_contain_text("Migration workshop")

    as_of.fill((today() + timedelta(days=1)).isoformat())
    expect(page.locator("#change-log-error")).to_contain_text("The as-of date cannot be after today.")
    expect(page.locator("#change-log-create")).to_be_disabled()

    as_of.fill(today().isoformat())
    expect(headings.nth(0)).not_to_contain_text("none")
    screenshot(page, "dialog-change-log")
    page.locator("#change-log-create").click()
    expect(page.locator("#created")).to_contain_text("Change-log invoice")
    number = page.locator("#created-number").inner_text()
    assert number
    expect(page.locator("#change-log-status")).to_contain_text("Nothing to invoice")
    expect(page.locator("#change-log-create")).to_be_disabled()
    archived = client.get("w365_licensechangelogs", lcl)
    assert archived["statuscode"] == 2

    page.get_by_role("tab", name="Full Cycle").click()
    expect(page.locator("#form")).to_be_visible()
    expect(page.locator("#actions")).to_be_visible()
    expect(page.locator("#change-log")).to_be_hidden()


def test_change_log_tab_explains_an_earlier_uninvoiced_cycle(page, plugin_server, dataverse_client, world):
    start = today() - timedelta(days=200)  # cycle 0 (with the Create change) was never invoiced
    cid = factories.license_contract(dataverse_client, world, start=start.isoformat(), frequency=3)["contract_id"]
    page.goto(f"{plugin_server.url}/pages/generate?id={cid}")
    page.get_by_role("tab", name="Change Log").click()
    error = page.locator("#change-log-error")
    expect(error).to_contain_text("Earlier billing cycles")
    expect(error).to_contain_text("generate them first")
    expect(page.locator("#change-log-create")).to_be_disabled()


def test_monthly_contracts_have_no_change_log_tab(page, plugin_server, dataverse_client, world):
    cid = factories.license_contract(dataverse_client, world, frequency=1)["contract_id"]
    page.goto(f"{plugin_server.url}/pages/generate?id={cid}")
    expect(page.locator("#preview-table")).to_be_visible()
    expect(page.locator("#tabs")).to_be_hidden()
