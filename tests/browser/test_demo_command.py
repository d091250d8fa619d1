"""`w365 demo` as a user runs it: a subprocess in an empty directory, stopped with Ctrl-C."""
from __future__ import annotations

import os
import queue
import re
import signal
import subprocess
import threading
from pathlib import Path

import pytest
import requests

from tests.browser.conftest import W365
from tests.conftest import free_port

pytestmark = pytest.mark.browser

URL_LINE = re.compile(r"^(Bulk window|Dialog):\s+(\S+)$")


class Demo:
    """A running `w365 demo`: its output lines as they come, its printed URLs."""

    def __init__(self, cwd: Path, port: int, dataverse_port: int):
        self.process = subprocess.Popen(
            [str(W365), "demo", "--port", str(port), "--dataverse-port", str(dataverse_port),
             "--contracts", "12"],
            cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        self.lines: queue.Queue[str | None] = queue.Queue()
        self.output: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        for line in self.process.stdout:
            self.lines.put(line.rstrip("\n"))
        self.lines.put(None)

    def wait_for_urls(self, timeout: float = 60) -> dict[str, str]:
        urls: dict[str, str] = {}
        while True:
            line = self.lines.get(timeout=timeout)
            assert line is not None, "demo exited early:\n" + "\n".join(self.output)
            self.output.append(line)
            match = URL_LINE.match(line)
            if match:
                urls[match.group(1)] = match.group(2)
            if line.startswith("Press Ctrl-C"):
                return urls

    def interrupt(self) -> int:
        self.process.send_signal(signal.SIGINT)
        code = self.process.wait(timeout=30)
        while (line := self.lines.get(timeout=5)) is not None:
            self.output.append(line)
        return code

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)


def run_once(cwd: Path, port: int, dataverse_port: int) -> tuple[dict[str, str], list[str]]:
    demo = Demo(cwd, port, dataverse_port)
    try:
        urls = demo.wait_for_urls()
        assert set(urls) == {"Bulk window", "Dialog"}, demo.output
        for url in urls.values():
            assert url.startswith(f"http://127.0.0.1:{port}/pages/")
            page = requests.get(url, timeout=10, allow_redirects=False)  # the pages sign the user in first
            assert page.status_code == 302 and "/pages/signin?next=" in page.headers["Location"]
            signin = requests.get(f"http://127.0.0.1:{port}{page.headers['Location']}", timeout=30,
                                  allow_redirects=False)
            assert signin.status_code == 302
            authorize = f"https://127.0.0.1:{dataverse_port}/local/oauth2/v2.0/authorize?"
            assert signin.headers["Location"].startswith(authorize)
        ids = urls["Bulk window"].split("ids=", 1)[1].split(",")
        assert len(ids) == 5
        rows = requests.post(f"http://127.0.0.1:{port}/api/v1/bulk/rows", json={"ids": ids},
                             timeout=30)
        assert rows.status_code == 200, rows.text
        assert [r["billing_contract_id"] for r in rows.json()["rows"]] == ids
        # the environment lines the demo prints are all another shell needs to use the CLI
        printed = dict(line.strip().split("=", 1) for line in demo.output
                       if line.startswith(("  W365_", "  REQUESTS_CA_BUNDLE")))
        assert set(printed) == {"W365_DATAVERSE_URL", "W365_DATAVERSE_TOKEN", "REQUESTS_CA_BUNDLE"}, demo.output
        env = {k: v for k, v in os.environ.items() if not k.startswith("W365_") and k != "SSL_CERT_FILE"}
        cycles = subprocess.run([str(W365), "cycles", ids[0]], env={**env, **printed}, cwd=cwd,
                                capture_output=True, text=True, timeout=60)
        assert cycles.returncode == 0 and ids[0] in cycles.stdout, cycles.stderr
        assert demo.interrupt() == 0, demo.output
        assert demo.output[-1] == "Stopped."
        return urls, demo.output
    finally:
        demo.kill()


def test_demo_starts_prints_urls_serves_them_and_keeps_its_data(tmp_path):
    port, dataverse_port = free_port(), free_port()
    first_urls, first_output = run_once(tmp_path, port, dataverse_port)
    assert any(line.startswith("Seeding demo data") for line in first_output)
    assert (tmp_path / ".w365" / "dataverse.sqlite3").is_file()

    second_urls, second_output = run_once(tmp_path, port, dataverse_port)
    assert not any(line.startswith("Seeding") for line in second_output)  # the data was kept
    assert second_urls == first_urls
