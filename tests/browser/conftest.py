"""Browser fixtures: the system Chromium (Playwright) and the plugin on a free loopback port."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest

from plugin.config import Config

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
DIALOG_SIZE = {"width": 600, "height": 400}
FULL_SIZE = {"width": 1440, "height": 900}
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
W365 = Path(sys.executable).with_name("w365")  # the console script of this environment


@pytest.fixture(scope="module")
def browser():
    """Headless system Chromium (Playwright's own browser download cannot work offline)."""
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: the browser tests need the system Chromium")
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture
def page(browser):
    """A fresh tab at dialog size; its console errors fail the test."""
    context = browser.new_context(viewport=DIALOG_SIZE, accept_downloads=True, locale="en-US")
    tab = context.new_page()
    errors: list[str] = []
    tab.on("pageerror", lambda exc: errors.append(str(exc)))
    tab.set_default_timeout(15_000)
    yield tab
    context.close()
    assert not errors, f"JavaScript errors on the page: {errors}"


def serve_plugin(local_dataverse, dataverse_client, tmp_dir: Path, **overrides):
    """Serve the plugin (against `local_dataverse`) on a free loopback port; returns the server."""
    from plugin.app import create_app
    from plugin.cli.serve import BackgroundServer

    settings = {"dataverse_url": local_dataverse.url, "api_auth": ("dev",),
                "outbox_dir": str(tmp_dir / "outbox"), **overrides}
    config = Config(**settings)
    return BackgroundServer(create_app(config, dataverse=dataverse_client)).start()


@pytest.fixture(scope="module")
def plugin_server(local_dataverse, dataverse_client, tmp_path_factory):
    """The plugin in dev auth mode, serving the module's local Dataverse."""
    server = serve_plugin(local_dataverse, dataverse_client, tmp_path_factory.mktemp("plugin"))
    try:
        yield server
    finally:
        server.stop()


def screenshot(page, name: str, full_page: bool = False) -> Path:
    """Save a screenshot (the viewport, or the whole page) into test-artifacts/ (gitignored)."""
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=full_page)
    return path
