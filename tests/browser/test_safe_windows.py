"""The windows as a billing user expects them: nothing invoiced by accident, links to the right place."""
from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from connectors.dataverse import odata
from tests import factories
from tests.browser.conftest import screenshot, serve_plugin
from tests.browser.test_generate_dialog import api_generate

pytestmark = pytest.mark.browser

ORG = "https://contoso.crm.dynamics.com"


@pytest.fixture(scope="module")
def world(dataverse_client):
    return factories.make_world(dataverse_client)


def invoice_count(client, contract_id: str) -> int:
    return sum(1 for _ in client.query("invoices", select=["invoiceid"],
                                       filter=odata.eq("_w365_billingcontract_value", contract_id)))


def fully_invoiced(client, world, server, name: str) -> tuple[str, str]:
    """A contract with a single cycle (it ends with it), already invoiced: no default cycle."""
    contract = factories.license_contract(client, world, name=name, end="2026-03-31")["contract_id"]
    return contract, api_generate(server, contract, "2026-01-01")["number"]


def row(page, name: str):
    return page.locator("#rows tbody tr", has=page.get_by_role("rowheader", name=name))


def create_when_ready(page):
    """Press Create once the dialog has its cycles and preview (a press while the preview loads does nothing)."""
    expect(page.locator("#preview-table")).to_be_visible()
    expect(page.locator("#preview")).to_have_attribute("aria-busy", "false")
    page.get_by_role("button", name="Create").click()


def test_a_row_without_default_cycle_is_not_sent_unless_a_cycle_is_picked(page, plugin_server, dataverse_client,
                                                                          world):
    done, number = fully_invoiced(dataverse_client, world, plugin_server, "Done Corp")
    fresh = factories.license_contract(dataverse_client, world, name="Fresh Corp")["contract_id"]
    page.goto(f"{plugin_server.url}/pages/bulk?ids={done},{fresh}")
    done_row = row(page, "Done Corp")
    expect(done_row.get_by_role("combobox")).to_have_value("")
    expect(done_row.get_by_role("combobox").locator("option:checked")).to_have_text("Nothing to invoice")
    expect(done_row.locator(".row-warn")).to_be_hidden()

    page.get_by_role("button", name="Proceed").click()
    expect(page.locator("#progress-text")).to_contain_text("Finished: 1 created", timeout=60_000)
    expect(done_row.locator(".result")).to_contain_text("Nothing to invoice")
    assert invoice_count(dataverse_client, done) == 1  # the existing invoice only
    assert invoice_count(dataverse_client, fresh) == 1


def test_picking_an_invoiced_cycle_warns_and_then_sends_it(page, plugin_server, dataverse_client, world):
    done, number = fully_invoiced(dataverse_client, world, plugin_server, "Again Corp")
    page.goto(f"{plugin_server.url}/pages/bulk?ids={done}")
    select = row(page, "Again Corp").get_by_role("combobox")
    expect(page.get_by_role("button", name="Proceed")).to_be_disabled()
    select.select_option("2026-01-01")
    expect(row(page, "Again Corp").locator(".row-warn")).to_have_text(
        f"Already invoiced ({number}): an additional invoice will be created")
    page.get_by_role("button", name="Proceed").click()
    expect(page.locator("#progress-text")).to_contain_text("Finished: 1 created", timeout=60_000)
    assert invoice_count(dataverse_client, done) == 2


def test_result_filter_check_all_close_and_full_cycle_labels(page, plugin_server, dataverse_client, world):
    names = ["Filter Alpha", "Filter Beta"]
    ids = [factories.license_contract(dataverse_client, world, name=n, autosend=True)["contract_id"] for n in names]
    empty = factories.create_contract(dataverse_client, account_id=world.account_id, currency_id=world.currency_id,
                                      name="Filter Empty", autosync=True)
    missing = "00000000-0000-4000-8000-00000000000f"
    page.set_viewport_size({"width": 900, "height": 700})
    page.goto(f"{plugin_server.url}/pages/bulk?ids={','.join(ids + [empty, missing])}")
    expect(page.locator("#rows tbody tr")).to_have_count(4)

    # every cycle label is readable whole at 900 px (no select cuts its text)
    for select in page.locator("#rows tbody select").all():
        assert select.evaluate("s => s.scrollWidth <= s.clientWidth + 1"), select.evaluate("s => s.value")

    check_all = page.get_by_label("Check or uncheck Trigger Post Invoicing Tasks for every row")
    expect(check_all).to_be_checked()
    check_all.uncheck()
    for name in names + ["Filter Empty"]:
        expect(row(page, name).get_by_role("checkbox")).not_to_be_checked()
    row(page, "Filter Alpha").get_by_role("checkbox").check()
    assert check_all.evaluate("box => box.indeterminate")
    check_all.check()
    expect(row(page, "Filter Beta").get_by_role("checkbox")).to_be_checked()

    expect(page.get_by_role("button", name="Close")).to_be_visible()
    page.get_by_role("button", name="Proceed").click()
    expect(page.locator("#progress-text")).to_contain_text("Finished: 2 created, 1 skipped, 0 failed",
                                                           timeout=60_000)
    page.get_by_label("Show").select_option("skipped")
    expect(row(page, "Filter Empty")).to_be_visible()
    expect(row(page, "Filter Alpha")).to_be_hidden()
    page.get_by_label("Show").select_option("created")
    expect(row(page, "Filter Alpha")).to_be_visible()
    expect(row(page, "Filter Empty")).to_be_hidden()
    page.get_by_label("Show").select_option("all")
    expect(page.locator("#rows tbody tr:visible")).to_have_count(4)
    # the summary stays in view at the bottom of the window
    page.mouse.wheel(0, 2000)
    expect(page.locator("#progress-text")).to_be_in_viewport()
    screenshot(page, "bulk-900-filtered")


def test_dialog_moves_on_after_create_and_a_second_invoice_needs_confirmation(page, plugin_server,
                                                                             dataverse_client, world):
    contract = factories.license_contract(dataverse_client, world, name="Twice Corp")["contract_id"]
    page.goto(f"{plugin_server.url}/pages/generate?id={contract}")
    cycle = page.get_by_label("Billing Cycle")
    expect(cycle).to_have_value("2026-01-01")
    create = page.get_by_role("button", name="Create")
    create_when_ready(page)
    expect(page.locator("#created-number")).to_have_text(re.compile(r"^INV-\d+$"))
    first = page.locator("#created-number").inner_text()
    expect(cycle).to_have_value("2026-04-01")
    create_when_ready(page)  # the second press lands on the next cycle, never the one just invoiced
    expect(page.locator("#created-number")).not_to_have_text(first)
    expect(cycle).to_have_value("2026-07-01")
    starts = sorted(i["w365_cyclestart"] for i in factories.invoices_of(dataverse_client, contract))
    assert starts == ["2026-01-01", "2026-04-01"]

    cycle.select_option("2026-01-01")
    expect(page.locator("#cycle-warning")).to_contain_text("Already invoiced")
    expect(create).to_be_disabled()
    page.get_by_label("Yes, create an additional invoice for this cycle").check()
    expect(create).to_be_enabled()
    create_when_ready(page)
    expect(page.locator("#outcome")).to_contain_text("already existed")
    assert len(factories.invoices_of(dataverse_client, contract)) == 3
    expect(page.get_by_role("button", name="Close")).to_be_visible()


def test_open_invoice_shows_the_read_only_invoice_page(page, plugin_server, dataverse_client, world):
    contract = factories.license_contract(dataverse_client, world, name="Viewed Corp", quantity=3,
                                          price="12.50")["contract_id"]
    page.goto(f"{plugin_server.url}/pages/generate?id={contract}")
    create_when_ready(page)
    link = page.locator("#created-link")
    expect(link).to_have_attribute("href", re.compile(r"^/pages/invoice\?id="))
    page.goto(plugin_server.url + link.get_attribute("href"))
    expect(page.locator("#invoice-number")).to_have_text(re.compile(r"^Invoice INV-\d+$"))
    expect(page.locator("#fact-date")).to_have_text("Jan 1, 2026")
    expect(page.locator("#lines tbody.category")).to_contain_text("Full Cycle")
    expect(page.locator("#lines tfoot tr.grand")).to_contain_text("$112.50")  # 3 × 12.50 × 3 months
    screenshot(page, "invoice-page")
    assert page.goto(f"{plugin_server.url}/pages/invoice?id=nope").status == 400


def test_links_open_the_configured_org_never_a_url_parameter(page, local_dataverse, dataverse_client, world,
                                                             tmp_path):
    server = serve_plugin(local_dataverse, dataverse_client, tmp_path, dataverse_url=ORG)
    try:
        contract = factories.license_contract(dataverse_client, world, name="Org Corp")["contract_id"]
        page.goto(f"{server.url}/pages/generate?id={contract}&org=https://evil.example")
        create_when_ready(page)
        expect(page.locator("#created-link")).to_have_attribute(
            "href", re.compile(rf"^{re.escape(ORG)}/main\.aspx\?pagetype=entityrecord&etn=invoice&id=[0-9a-f-]{{36}}$"))
    finally:
        server.stop()


def test_a_long_selection_opens_through_a_form_post(page, plugin_server, dataverse_client, world):
    ids = [factories.license_contract(dataverse_client, world, name=f"Posted {i}")["contract_id"] for i in range(3)]
    many = ids + [f"00000000-0000-4000-8000-{i:012d}" for i in range(300)]  # ~11 KB of ids
    page.goto(f"{plugin_server.url}/pages/bulk?ids=x")
    page.evaluate("""([url, ids]) => {
        const form = Object.assign(document.createElement("form"), {method: "POST", action: url});
        form.append(Object.assign(document.createElement("input"), {type: "hidden", name: "ids", value: ids}));
        document.body.append(form);
        form.submit();
    }""", [f"{plugin_server.url}/pages/bulk", ",".join(many)])
    expect(page.locator("#subtitle")).to_have_text("303 billing contracts selected")
    expect(row(page, "Posted 0")).to_be_visible()


def test_close_asks_the_framing_dialog_to_close(page, plugin_server, dataverse_client, world):
    contract = factories.license_contract(dataverse_client, world, name="Framed Corp")["contract_id"]
    page.goto(f"{plugin_server.url}/pages/bulk?ids=x")
    page.evaluate("""(src) => {
        window.got = [];
        window.addEventListener("message", (event) => window.got.push(event.data));
        document.body.replaceChildren(Object.assign(document.createElement("iframe"), {src, id: "frame"}));
    }""", f"{plugin_server.url}/pages/generate?id={contract}")
    frame = page.frame_locator("#frame")
    frame.get_by_role("button", name="Close").click()
    for _ in range(50):  # the message arrives asynchronously (wait_for_function would need eval: CSP)
        if page.evaluate("() => window.got.length"):
            break
        page.wait_for_timeout(100)
    assert page.evaluate("() => window.got") == [{"w365": "close"}]


def test_the_same_contract_selected_twice_is_one_row(page, plugin_server, dataverse_client, world):
    contract = factories.license_contract(dataverse_client, world, name="Twice Selected")["contract_id"]
    page.goto(f"{plugin_server.url}/pages/bulk?ids={contract},{{{contract.upper()}}}")
    expect(page.locator("#rows tbody tr")).to_have_count(1)
    page.get_by_role("button", name="Proceed").click()
    expect(page.locator("#progress-text")).to_contain_text("Finished: 1 created", timeout=60_000)
    assert invoice_count(dataverse_client, contract) == 1
