"""The single-contract Generate Invoice dialog in headless Chromium, against the local Dataverse."""
from __future__ import annotations

import re
from decimal import Decimal

import pytest
import requests
from playwright.sync_api import expect

from connectors.dataverse import odata
from tests import factories
from tests.browser.conftest import FULL_SIZE, screenshot

pytestmark = pytest.mark.browser

ORG = "https://contoso.crm.dynamics.com"
CATEGORIES = ["Full Cycle", "Mid-Cycle Change", "Usage", "Non-Recurring", "Service"]


@pytest.fixture(scope="module")
def world(dataverse_client):
    return factories.make_world(dataverse_client, currency="EUR")


def five_category_contract(client, world, name: str) -> str:
    """A quarterly contract (from 2026-01-01) whose second cycle has a line in every category."""
    ids = factories.license_contract(client, world, start="2026-01-01", quantity=10, price="12.00",
                                     frequency=3, name=name, taxpercent=Decimal("10"))
    contract_id = ids["contract_id"]
    factories.create_change_log(client, ids["subscription_id"], contract_id, effective="2026-05-16",
                                delta=4)
    service = factories.create_subscription(client, contract_id, billing_type=2, price="8.50",
                                            name="Managed Endpoint Support", taxable=True)
    factories.create_change_log(client, service, contract_id, effective="2026-01-01", delta=3,
                                change_type=1)
    usage = factories.create_subscription(client, contract_id, billing_type=3, price="0",
                                          name="Azure consumption")
    factories.create_usage(client, usage, contract_id, charge_date="2026-04-20", amount="41.37")
    factories.create_nri(client, contract_id, effective="2026-04-10", quantity=2,
                         unit_price="150.00", name="Onboarding workshop")
    return contract_id


def contract_invoices(client, contract_id: str) -> list[dict]:
    return list(client.query("invoices", select=["invoicenumber"],
                             filter=odata.eq("_w365_billingcontract_value", contract_id)))


def api_generate(server, contract_id: str, cycle: str) -> dict:
    response = requests.post(f"{server.url}/api/v1/invoices",
                             json={"billing_contract_id": contract_id, "cycle": cycle}, timeout=30)
    assert response.status_code == 201, response.text
    return response.json()["result"]["invoice"]


def test_dialog_previews_the_next_uninvoiced_cycle_and_creates_its_invoice(page, plugin_server,
                                                                           dataverse_client, world):
    contract_id = five_category_contract(dataverse_client, world, "Contoso Ltd — Microsoft 365")
    first = api_generate(plugin_server, contract_id, "2026-01-01")

    # an org= parameter is ignored: links lead only to the configured Dataverse (here a local one)
    page.goto(f"{plugin_server.url}/pages/generate?id={contract_id}&org=https://evil.example")
    expect(page.locator("#contract-name")).to_have_text("Contoso Ltd — Microsoft 365")
    expect(page.locator("#contract-account")).to_contain_text("Account")
    expect(page.locator("#fact-type")).to_have_text("Recurring")
    expect(page.locator("#fact-policy")).to_have_text("Advance")
    expect(page.locator("#fact-otp")).to_have_text("No")

    cycle = page.get_by_label("Billing Cycle")
    expect(cycle).to_have_value("2026-04-01")  # the first is invoiced: the next one is preselected
    expect(cycle.locator("option[value='2026-01-01']")).to_contain_text(first["number"])
    expect(page.locator("#cycle-warning")).to_be_hidden()

    table = page.locator("#preview-table")
    expect(table).to_be_visible()
    headings = table.locator("tbody.category th[scope=rowgroup]")
    expect(headings).to_have_count(5)
    for index, label in enumerate(CATEGORIES):
        expect(headings.nth(index)).to_contain_text(label)
        group = table.locator("tbody.category").nth(index)
        expect(group).not_to_have_class(re.compile(r"\bempty\b"))
    expect(table.locator("tfoot")).to_contain_text("Subtotal")
    expect(table.locator("tfoot tr.grand")).to_contain_text("€")  # the contract's currency
    # full cycle 10 × 36.00 = 360.00 (+10 % tax on the taxable service only)
    expect(table.locator("tbody.category").nth(0)).to_contain_text("€360.00")

    screenshot(page, "dialog-600x400")
    page.set_viewport_size(FULL_SIZE)
    screenshot(page, "dialog-full", full_page=True)

    # the invoiced cycle warns before a re-invoice
    cycle.select_option("2026-01-01")
    expect(page.locator("#cycle-warning")).to_have_text(
        f"Already invoiced ({first['number']}): an additional invoice will be created")
    cycle.select_option("2026-04-01")
    expect(page.locator("#cycle-warning")).to_be_hidden()
    expect(table).to_be_visible()

    # keyboard only: from the cycle, Tab past "Show preview" to Create, press Enter
    cycle.focus()
    page.keyboard.press("Tab")
    expect(page.get_by_label("Show preview")).to_be_focused()
    page.keyboard.press("Tab")
    expect(page.get_by_role("button", name="Create")).to_be_focused()
    page.keyboard.press("Enter")
    number = page.locator("#created-number")
    expect(number).to_have_text(re.compile(r"^INV-\d+$"))
    created = number.inner_text()
    assert created != first["number"]
    expect(page.locator("#created-total")).to_contain_text("€")
    expect(page.locator("#created-link")).to_have_attribute(
        "href", re.compile(r"^/pages/invoice\?id=[0-9a-f-]{36}$"))
    # the cycle now reads as invoiced, and the select moved on to the next cycle to invoice
    expect(cycle.locator("option[value='2026-04-01']")).to_contain_text(created)
    expect(cycle).to_have_value("2026-07-01")
    expect(page.locator("#cycle-warning")).to_be_hidden()
    screenshot(page, "dialog-created-full", full_page=True)

    invoices = contract_invoices(dataverse_client, contract_id)
    assert sorted(i["invoicenumber"] for i in invoices) == sorted([first["number"], created])


def test_dialog_refreshes_a_stale_preview_instead_of_creating(page, plugin_server, dataverse_client,
                                                               world):
    contract_id = five_category_contract(dataverse_client, world, "Fabrikam Inc")
    page.goto(f"{plugin_server.url}/pages/generate?id={contract_id}")
    expect(page.get_by_label("Billing Cycle")).to_have_value("2026-01-01")
    expect(page.locator("#preview-table")).to_be_visible()

    # someone else invoices the cycle while the dialog is open: the preview the user saw is stale
    other = api_generate(plugin_server, contract_id, "2026-01-01")
    page.get_by_role("button", name="Create").click()
    expect(page.locator("#outcome")).to_contain_text("nothing was created")
    expect(page.locator("#created-number")).to_have_count(0)
    expect(page.locator("#cycle-warning")).to_contain_text(f"Already invoiced ({other['number']})")
    invoices = contract_invoices(dataverse_client, contract_id)
    assert len(invoices) == 1


def test_dialog_explains_errors_in_plain_words(page, plugin_server):
    page.goto(f"{plugin_server.url}/pages/generate?id=00000000-0000-0000-0000-000000000001")
    expect(page.locator("#page-error")).to_be_visible()
    expect(page.locator("#page-error")).not_to_contain_text("{")  # words, not a JSON dump
    expect(page.locator("#form")).to_be_hidden()

    response = page.goto(f"{plugin_server.url}/pages/generate?id=not-a-guid")
    assert response.status == 400
    expect(page.locator("#page-error")).to_contain_text("is not a billing contract id")


def test_money_keeps_the_currency_precision_and_exact_decimals(page, plugin_server):
    page.goto(f"{plugin_server.url}/pages/bulk?ids=x")  # any page: it loads the shared script
    fmt = "([c, v]) => W365.moneyFormatter(c)(v)"
    assert page.evaluate(fmt, [{"code": "JPY", "precision": 0}, "1234"]) == "¥1,234"
    assert page.evaluate(fmt, [{"code": "USD", "precision": 2}, "-475.20"]) == "-$475.20"
    huge = "90071992547409.93"  # beyond a float's exactness
    assert page.evaluate(fmt, [{"code": "EUR", "precision": 2}, huge]) == "€90,071,992,547,409.93"
    assert page.evaluate(fmt, [{"code": "KWD", "precision": 3}, "1.005"]) == "KWD\xa01.005"
