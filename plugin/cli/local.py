"""Placeholder: being built."""
import click


@click.command("dataverse-local")
def dataverse_local():
    """Not built yet."""
    raise click.ClickException("not built yet")

