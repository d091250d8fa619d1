"""The bulk Generate Invoice window in headless Chromium, against the local Dataverse."""
from __future__ import annotations

import csv
import io
import re

import pytest
import requests
from playwright.sync_api import expect

from tests import factories
from tests.browser.conftest import FULL_SIZE, screenshot

pytestmark = pytest.mark.browser

CSV_HEADER = ["billing_contract_id", "name", "cycle", "result", "invoice_number", "invoice_total",
              "currency", "message"]


@pytest.fixture(scope="module")
def contracts(dataverse_client, plugin_server):
    """Five contracts: automated, empty, automated (box to uncheck), doomed, already invoiced."""
    client = dataverse_client
    world = factories.make_world(client)
    alpine = factories.license_contract(client, world, name="Alpine Ski House",
                                        autosend=True)["contract_id"]
    empty = factories.create_contract(client, account_id=world.account_id,
                                      currency_id=world.currency_id, name="Blue Yonder Airlines")
    coho = factories.license_contract(client, world, name="Coho Winery",
                                      autosync=True)["contract_id"]
    doomed = factories.license_contract(client, world, name="Datum Corporation")["contract_id"]
    again = factories.license_contract(client, world, name="Fourth Coffee")["contract_id"]
    response = requests.post(f"{plugin_server.url}/api/v1/invoices",
                             json={"billing_contract_id": again, "cycle": "2026-01-01"}, timeout=30)
    assert response.status_code == 201, response.text
    return {"alpine": alpine, "empty": empty, "coho": coho, "doomed": doomed, "again": again,
            "first_invoice": response.json()["result"]["invoice"]["number"]}


def row(page, name: str):
    return page.locator("#rows tbody tr", has=page.get_by_role("rowheader", name=name))


def test_bulk_window_generates_row_by_row_with_results_retry_and_csv(page, plugin_server,
                                                                      dataverse_client, contracts):
    c = contracts
    ids = [c["alpine"], c["empty"], c["coho"], c["doomed"], c["again"]]
    page.goto(f"{plugin_server.url}/pages/bulk?ids={','.join('{' + i.upper() + '}' for i in ids)}")
    rows = page.locator("#rows tbody tr")
    expect(rows).to_have_count(5)
    expect(page.locator("#rows thead")).to_contain_text(
        re.compile("Billing Contract Name.*Billing Cycle.*Trigger Post Invoicing Tasks.*Result",
                   re.S))

    alpine, empty, coho, doomed, again = (row(page, n) for n in (
        "Alpine Ski House", "Blue Yonder Airlines", "Coho Winery", "Datum Corporation",
        "Fourth Coffee"))
    # next uninvoiced cycle preselected; the invoiced one is marked with its invoice number
    expect(alpine.get_by_role("combobox")).to_have_value("2026-01-01")
    expect(again.get_by_role("combobox")).to_have_value("2026-04-01")
    expect(again.locator("option[value='2026-01-01']")).to_contain_text(c["first_invoice"])
    # post-invoicing tasks: on where the contract has automations, explained where it has none
    expect(alpine.get_by_role("checkbox")).to_be_checked()
    expect(alpine).to_contain_text("auto-send")
    expect(empty.get_by_role("checkbox")).to_be_disabled()
    expect(empty).to_contain_text("No automations are enabled on this contract")
    expect(page.get_by_label("Trigger post invoicing tasks for Coho Winery")).to_be_checked()

    # change one cycle (to the invoiced one: warned), uncheck one box
    again.get_by_role("combobox").select_option("2026-01-01")
    expect(again.locator(".row-warn")).to_have_text(
        f"Already invoiced ({c['first_invoice']}): an additional invoice will be created")
    expect(alpine.locator(".row-warn")).to_be_hidden()
    page.get_by_label("Trigger post invoicing tasks for Coho Winery").uncheck()
    screenshot(page, "bulk-600x400-before")

    # the contract is deleted by someone else after the window loaded: its row fails with the reason
    dataverse_client.delete("w365_billingcontracts", c["doomed"])

    page.get_by_role("button", name="Proceed").click()
    expect(page.locator("#progress-text")).to_contain_text("Finished: 3 created, 1 skipped, 1 failed.",
                                                           timeout=60_000)
    expect(page.locator("#progress")).to_have_attribute("value", "5")
    expect(page.get_by_role("button", name="Proceed")).to_be_disabled()

    invoice_number = re.compile(r"Created INV-\d+")
    expect(alpine.locator(".result")).to_contain_text(invoice_number)
    expect(alpine.locator(".result")).to_contain_text("$")
    # a local Dataverse has no invoice form: the link opens the read-only invoice page
    expect(alpine.locator(".result a")).to_have_attribute(
        "href", re.compile(r"^/pages/invoice\?id=[0-9a-f-]{36}$"))
    expect(alpine.locator(".result li")).to_contain_text("Send: Succeeded", timeout=30_000)
    expect(empty.locator(".result")).to_contain_text("Skipped")
    expect(empty.locator(".result")).to_contain_text("nothing to invoice")
    expect(coho.locator(".result")).to_contain_text(invoice_number)
    expect(coho.locator(".result li")).to_have_count(0)  # box unchecked: no post tasks
    expect(doomed.locator(".result")).to_contain_text("Failed")
    failure = doomed.locator(".result .detail").inner_text()
    assert failure and failure != "unknown reason"
    expect(again.locator(".result")).to_contain_text(invoice_number)
    expect(again.locator(".result")).to_contain_text(f"{c['first_invoice']} already existed")

    screenshot(page, "bulk-600x400-results")
    page.set_viewport_size(FULL_SIZE)
    screenshot(page, "bulk-full", full_page=True)

    with page.expect_download() as download_info:
        page.get_by_role("link", name="Download CSV").click()
    download = download_info.value
    assert download.suggested_filename.endswith(".csv")
    with open(download.path(), newline="", encoding="utf-8") as handle:
        lines = list(csv.reader(io.StringIO(handle.read())))
    assert lines[0] == CSV_HEADER
    assert [line[0] for line in lines[1:]] == ids
    by_id = {line[0]: dict(zip(CSV_HEADER, line)) for line in lines[1:]}
    assert by_id[c["doomed"]]["result"] == "failed" and by_id[c["doomed"]]["message"]
    assert by_id[c["again"]]["cycle"] == "2026-01-01"
    assert re.fullmatch(r"INV-\d+", by_id[c["alpine"]]["invoice_number"])

    # Retry failed re-runs only the failed row; the contract is still gone, so it fails again
    page.get_by_role("button", name="Retry failed").click()
    expect(page.locator("#progress-text")).to_contain_text("1 failed", timeout=60_000)
    expect(doomed.locator(".result")).to_contain_text("Failed")
    expect(alpine.locator(".result")).to_contain_text(invoice_number)
    invoices = list(dataverse_client.query_in("invoices", "_w365_billingcontract_value", ids,
                                              select=["invoiceid"]))
    assert len(invoices) == 4  # Fourth Coffee's first invoice + three created by the run


def test_bulk_window_rejects_a_malformed_selection(page, plugin_server):
    response = page.goto(f"{plugin_server.url}/pages/bulk?ids=abc,def")
    assert response.status == 400
    expect(page.locator("#page-error")).to_contain_text("not billing contract ids")
    expect(page.locator("#rows")).to_be_hidden()
    response = page.goto(f"{plugin_server.url}/pages/bulk")
    assert response.status == 400
    expect(page.locator("#page-error")).to_contain_text("No billing contracts were selected")
