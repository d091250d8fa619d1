"""`w365 bulk` against the local Dataverse (DESIGN §10): ids, formats, post tasks, progress."""
from __future__ import annotations

import csv
import io
import json

import pytest
from click.testing import CliRunner

from plugin.cli import main
from tests import factories


@pytest.fixture()
def env(local_dataverse, tmp_path):
    return {"W365_DATAVERSE_URL": local_dataverse.url, "W365_DATAVERSE_TOKEN": "local-dev-token",
            "W365_OUTBOX_DIR": str(tmp_path / "outbox")}


def bulk(env, *args):
    result = CliRunner().invoke(main, ["bulk", *args], env=env)
    assert result.exit_code == 0, result.output
    return result


def test_json_with_post_tasks_from_an_ids_file(env, dataverse_client, world, tmp_path):
    a = factories.license_contract(dataverse_client, world, autosync=True)["contract_id"]
    b = factories.create_contract(dataverse_client, account_id=world.account_id, currency_id=world.currency_id)
    ids_file = tmp_path / "ids.txt"
    ids_file.write_text(f"# selected in the grid\n{a}\n{b.upper()}\n")
    result = bulk(env, "--ids-file", str(ids_file), "--post-tasks", "--format", "json", "--as-of", "2026-02-01")
    body = json.loads(result.stdout)
    assert body["source"] == "cli" and body["status"] == "completed"
    first, second = (r["result"] for r in body["rows"])
    assert first["status"] == "created" and second["status"] == "skipped"
    assert first["post_tasks"] == [{"task": "sync", "status": "succeeded", "message": first["post_tasks"][0]["message"]}]
    assert (tmp_path / "outbox" / f"{first['invoice']['number']}.sync.json").is_file()
    run = dataverse_client.get("w365_invoiceruns", body["run_id"])
    assert run["w365_source"] == 4
    assert "Invoicing" in result.stderr


def test_csv_and_table(env, dataverse_client, world):
    a = factories.license_contract(dataverse_client, world)["contract_id"]
    missing = "00000000-0000-4000-8000-000000000002"
    out = bulk(env, "--ids", f"{a},{missing}", "--format", "csv", "--as-of", "2026-02-01").stdout
    lines = list(csv.reader(io.StringIO(out)))
    assert lines[0][:4] == ["billing_contract_id", "name", "cycle", "result"]
    assert [line[3] for line in lines[1:]] == ["created", "failed"]
    table = bulk(env, "--ids", a, "--as-of", "2026-02-01").stdout
    assert "Billing Contract Name" in table and "created 1" in table


def test_usage_errors(env):
    runner = CliRunner()
    assert runner.invoke(main, ["bulk"], env=env).exit_code == 2
    result = runner.invoke(main, ["bulk", "--ids", "not-a-guid"], env=env)
    assert result.exit_code == 2 and "not a billing contract id" in result.output
