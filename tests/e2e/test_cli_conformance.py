"""`w365` exactly as DESIGN §10 names it: every command, option, default and choice; `--ids A B C`."""
from __future__ import annotations

import csv
import io

import click
import pytest
from click.testing import CliRunner

from plugin.cli import main
from tests import factories

# command -> {option flag: default} (None: no default that DESIGN fixes), then its arguments
DESIGN_COMMANDS = {
    "demo": ({}, []),
    "dataverse-local": ({"--port": 8800, "--db": None, "--latency-ms": None, "--fault-429-rate": None,
                         "--fault-503-rate": None, "--fault-reset-rate": None}, []),
    "seed": ({"--contracts": None, "--seed": None}, []),
    "serve": ({"--host": "127.0.0.1", "--port": 5000}, []),
    "cycles": ({}, ["contract_id"]),
    "preview": ({"--cycle": None}, ["contract_id"]),
    "generate": ({"--cycle": None, "--on-existing": None}, ["contract_id"]),
    "bulk": ({"--ids": None, "--ids-file": None, "--post-tasks": None, "--format": "table"}, []),
    "register": ({"--url": None}, []),
    "unregister": ({}, []),
    "registration-status": ({}, []),
    "provision": ({"--dry-run": None}, []),
    "provision-status": ({}, []),
}


def command(name: str) -> click.Command:
    found = main.get_command(click.Context(main), name)
    assert found is not None, f"w365 {name} is missing"
    return found


@pytest.mark.parametrize("name", sorted(DESIGN_COMMANDS))
def test_every_command_and_option_of_design_exists(name):
    options, arguments = DESIGN_COMMANDS[name]
    params = command(name).params
    flags = {flag: p for p in params if isinstance(p, click.Option) for flag in p.opts}
    for flag, default in options.items():
        assert flag in flags, f"w365 {name} {flag}"
        if default is not None:
            assert flags[flag].default == default, f"w365 {name} {flag} default"
    assert [p.name for p in params if isinstance(p, click.Argument)][:len(arguments)] == arguments
    if name == "bulk":
        assert list(flags["--format"].type.choices) == ["table", "csv", "json"]
        assert flags["--post-tasks"].is_flag
    if name == "register":
        assert flags["--url"].required


def test_bulk_takes_ids_separated_by_spaces(local_dataverse, dataverse_client, world, tmp_path):
    a = factories.license_contract(dataverse_client, world)["contract_id"]
    b = factories.license_contract(dataverse_client, world)["contract_id"]
    env = {"W365_DATAVERSE_URL": local_dataverse.url, "W365_DATAVERSE_TOKEN": "local-dev-token",
           "W365_OUTBOX_DIR": str(tmp_path / "outbox")}
    result = CliRunner().invoke(main, ["bulk", "--ids", a, b.upper(), "--format", "csv", "--as-of", "2026-02-01"],
                                env=env)
    assert result.exit_code == 0, result.output
    lines = list(csv.reader(io.StringIO(result.stdout)))
    assert [(line[0], line[3]) for line in lines[1:]] == [(a, "created"), (b, "created")]


@pytest.mark.parametrize("args", [["cycles", "{id}"], ["preview", "{id}"], ["generate", "{id}"], ["bulk", "--ids", "{id}"]])
def test_as_of_has_the_api_range(args):
    contract = "6f1c2a0e-0000-4000-8000-000000000001"
    result = CliRunner().invoke(main, [a.replace("{id}", contract) for a in args] + ["--as-of", "9999-12-31"],
                                env={"W365_DATAVERSE_URL": "http://127.0.0.1:9", "W365_DATAVERSE_TOKEN": "t"})
    assert result.exit_code == 2 and "between 1900-01-01 and 2199-12-31" in result.output
