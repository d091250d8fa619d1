"""The bulk window's "Change log as of …" row choice in headless Chromium."""
from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

import pytest
import requests
from playwright.sync_api import expect

from connectors.dataverse import odata
from tests import factories

pytestmark = pytest.mark.browser


def row(page, name: str):
    return page.locator("#rows tbody tr", has=page.get_by_role("rowheader", name=name))


def test_a_row_can_choose_a_change_log_as_of_today(page, plugin_server, dataverse_client):
    client = dataverse_client
    world = factories.make_world(client)
    today = datetime.now(timezone.utc).date()
    start = today - timedelta(days=40)
    quarterly = factories.license_contract(client, world, start=start.isoformat(), frequency=3,
                                           name="Litware Quarterly")
    cid = quarterly["contract_id"]
    response = requests.post(f"{plugin_server.url}/api/v1/invoices",
                             json={"billing_contract_id": cid, "cycle": start.isoformat()}, timeout=30)
    assert response.status_code == 201, response.text
    lcl = factories.create_change_log(client, quarterly["subscription_id"], cid, effective=start + timedelta(days=20),
                                      delta=2)
    monthly = factories.license_contract(client, world, frequency=1, name="Proseware Monthly")["contract_id"]

    page.goto(f"{plugin_server.url}/pages/bulk?ids={cid},{monthly}")
    expect(page.locator("#rows tbody tr")).to_have_count(2)
    choice = f"change-log:{today.isoformat()}"
    quarterly_select = row(page, "Litware Quarterly").get_by_role("combobox")
    expect(quarterly_select.locator(f"option[value='{choice}']")).to_contain_text("Change log as of")
    expect(row(page, "Proseware Monthly").locator("option[value^='change-log:']")).to_have_count(0)

    quarterly_select.select_option(choice)
    page.get_by_role("button", name="Proceed").click()
    result = row(page, "Litware Quarterly").locator("td.result")
    expect(result).to_contain_text("Created")
    expect(row(page, "Proseware Monthly").locator("td.result")).to_contain_text("Created")
    assert client.get("w365_licensechangelogs", lcl)["statuscode"] == 2
    invoices = list(client.query("invoices", select=["w365_category", "w365_cycleend"],
                                 filter=odata.eq("_w365_billingcontract_value", cid)))
    assert sorted((i["w365_category"], i["w365_cycleend"]) for i in invoices)[-1] == (3, today.isoformat())

    page.reload()  # the address names the run: the row says what it asked for
    assert "run=" in page.url
    expect(row(page, "Litware Quarterly").locator("td.cycle-text")).to_have_text(
        re.compile(r"^Change log as of \w{3} \d{1,2}, \d{4}$"))
    expect(row(page, "Litware Quarterly").locator("td.result")).to_contain_text("Created")
