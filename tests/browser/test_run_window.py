"""The bulk window finds its run again: its address names the run, a reload shows it, runs are listed,
and a Dataverse outage is said in words while the run waits for it."""
from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests import factories
from tests.browser.conftest import screenshot

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def contract_ids(dataverse_client):
    world = factories.make_world(dataverse_client)
    return [factories.license_contract(dataverse_client, world, name=f"Reload {i:02d}")["contract_id"]
            for i in range(40)]


def test_reloading_mid_run_shows_the_run_until_it_finishes(page, plugin_server, local_dataverse, contract_ids):
    page.set_viewport_size({"width": 1100, "height": 800})
    page.goto(f"{plugin_server.url}/pages/bulk?ids={','.join(contract_ids[:20])}")
    expect(page.locator("#rows tbody tr")).to_have_count(20)
    local_dataverse.set_faults(latency_ms=150)
    try:
        page.get_by_role("button", name="Proceed").click()
        expect(page).to_have_url(re.compile(r"/pages/bulk\?run=[0-9a-f-]{36}$"))
        run_url = page.url
        page.reload()
        expect(page.locator("#subtitle")).to_have_text("Invoice run of 20 billing contracts")
        expect(page.get_by_role("button", name="Proceed")).to_be_disabled()
        expect(page.locator("#rows tbody select")).to_have_count(0)  # the run, never a fresh form
    finally:
        local_dataverse.set_faults(latency_ms=0)
    expect(page.locator("#progress-text")).to_contain_text("Finished: 20 created, 0 skipped, 0 failed",
                                                           timeout=60_000)
    expect(page.locator("#rows tbody tr").first.locator(".result")).to_contain_text(re.compile(r"Created INV-\d+"))
    expect(page.get_by_role("link", name="Download CSV")).to_be_visible()

    page.goto(f"{plugin_server.url}/pages/runs")
    link = page.locator("#runs tbody a").first
    expect(link).to_have_attribute("href", "bulk?run=" + run_url.rsplit("=", 1)[1])
    expect(page.locator("#runs tbody tr").first).to_contain_text("20 created")
    screenshot(page, "runs-page")
    link.click()
    expect(page.locator("#progress-text")).to_contain_text("Finished: 20 created")


def test_a_dataverse_outage_is_said_and_the_run_carries_on(page, plugin_server, local_dataverse, contract_ids):
    page.goto(f"{plugin_server.url}/pages/bulk?ids={','.join(contract_ids[20:])}")
    expect(page.locator("#rows tbody tr")).to_have_count(20)
    local_dataverse.set_faults(latency_ms=300)
    try:
        page.get_by_role("button", name="Proceed").click()
        expect(page).to_have_url(re.compile(r"\?run="))
        local_dataverse.set_faults(rate_503=1.0, retry_after_s=1)  # Dataverse stops answering
        notice = page.locator("#dataverse-notice")
        expect(notice).to_have_text("Dataverse is not answering; the run continues when it is back.",
                                    timeout=20_000)
        screenshot(page, "bulk-dataverse-down")
    finally:
        local_dataverse.set_faults(rate_503=0.0, latency_ms=0)
    expect(page.locator("#progress-text")).to_contain_text("Finished: 20 created", timeout=90_000)
    expect(page.locator("#dataverse-notice")).to_be_hidden()
