"""`w365 seed`: write the reproducible demo data set into the configured Dataverse."""
from __future__ import annotations

import json
from datetime import datetime

import click

from plugin.cli.common import connect, dataverse_errors_as_click


@click.command("seed")
@click.option("--contracts", default=250, show_default=True, type=click.IntRange(1, 100_000),
              help="How many billing contracts to generate.")
@click.option("--seed", "seed_value", default=365, show_default=True, type=int,
              help="Random seed: the same seed (and date) gives the same data.")
@click.option("--as-of", type=click.DateTime(["%Y-%m-%d"]), default=None,
              help="The 'today' the data is generated around (default: today, UTC).")
@click.option("--invoiced-share", default=0.3, show_default=True, type=click.FloatRange(0, 1),
              help="Share of recurring contracts whose past cycles are invoiced (by bulk runs).")
@dataverse_errors_as_click
def seed(contracts: int, seed_value: int, as_of: datetime | None, invoiced_share: float) -> None:
    """Write a reproducible demo data set (accounts, contracts, subscriptions, change logs, NRIs, usage)."""
    from plugin.seed import seed as write_seed

    client = connect(retry_budget_s=120)
    with click.progressbar(length=0, label="Seeding", show_pos=True) as bar:
        def progress(entity_set: str, rows: int) -> None:
            bar.length = (bar.length or 0) + rows
            bar.update(rows)
        summary = write_seed(client, contracts=contracts, seed=seed_value,
                             today=as_of.date() if as_of else None, progress=progress,
                             invoiced_share=invoiced_share)
    if not summary["seeded"]:
        click.echo("This data set is already in Dataverse; nothing written.")
    click.echo(json.dumps({"seeded": summary["seeded"], "counts": summary["counts"]}, indent=2))
