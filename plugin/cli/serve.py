"""Placeholder: being built."""
import click


@click.command("serve")
def serve():
    """Not built yet."""
    raise click.ClickException("not built yet")


@click.command("demo")
def demo():
    """Not built yet."""
    raise click.ClickException("not built yet")
