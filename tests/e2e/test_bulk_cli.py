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


def bulk(env, *args, exit_code=0):
    result = CliRunner().invoke(main, ["bulk", *args], env=env)
    assert result.exit_code == exit_code, result.output
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
    out = bulk(env, "--ids", f"{a},{missing}", "--format", "csv", "--as-of", "2026-02-01", exit_code=1).stdout
    lines = list(csv.reader(io.StringIO(out)))
    assert lines[0] == ["billing_contract_id", "name", "cycle", "result", "invoice_number", "invoice_total",
                        "currency", "message"]
    assert [line[3] for line in lines[1:]] == ["created", "failed"]
    assert lines[1][5:7] == ["360.00", "USD"]
    table = bulk(env, "--ids", a, "--as-of", "2026-02-01").stdout
    assert "Billing Contract Name" in table and "created 1" in table


def test_exit_code_is_1_only_when_a_row_failed(env, dataverse_client, world):
    created = factories.license_contract(dataverse_client, world)["contract_id"]
    empty = factories.create_contract(dataverse_client, account_id=world.account_id, currency_id=world.currency_id)
    bulk(env, "--ids", f"{created},{empty}", "--as-of", "2026-02-01", exit_code=0)
    bulk(env, "--ids", "00000000-0000-4000-8000-000000000003", "--as-of", "2026-02-01", exit_code=1)


def test_a_repeated_id_is_a_skipped_duplicate(env, dataverse_client, world):
    a = factories.license_contract(dataverse_client, world)["contract_id"]
    out = bulk(env, "--ids", f"{a},{a.upper()}", "--format", "json", "--as-of", "2026-02-01").stdout
    second = json.loads(out)["rows"][1]["result"]
    assert (second["status"], second["message"]) == ("skipped", "duplicate of row 1")
    assert len(factories.invoices_of(dataverse_client, a)) == 1


def test_csv_cells_that_look_like_formulas_are_neutralised(env, dataverse_client, world):
    name = '=HYPERLINK("http://evil.example","click")'
    a = factories.license_contract(dataverse_client, world, name=name)["contract_id"]
    yen = factories.make_world(dataverse_client, currency="JPY", precision=0)
    b = factories.license_contract(dataverse_client, yen, name="@SUM(1)", price="1500")["contract_id"]
    out = bulk(env, "--ids", f"{a},{b}", "--format", "csv", "--as-of", "2026-02-01").stdout
    first, second = list(csv.reader(io.StringIO(out)))[1:]
    assert first[1] == "'" + name and second[1] == "'@SUM(1)"
    assert (second[5], second[6]) == ("45000", "JPY")


def test_usage_errors(env):
    runner = CliRunner()
    assert runner.invoke(main, ["bulk"], env=env).exit_code == 2
    result = runner.invoke(main, ["bulk", "--ids", "not-a-guid"], env=env)
    assert result.exit_code == 2 and "not a billing contract id" in result.output
