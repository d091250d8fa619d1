"""The `w365` command line: one module per command family, gathered into one click group."""
from __future__ import annotations

import importlib

import click

# module name -> command names it defines (each module exposes click commands by those names)
_COMMAND_MODULES = {
    "local": ["dataverse_local"],
    "seed": ["seed"],
    "serve": ["serve", "demo"],
    "single": ["cycles", "preview", "generate"],
    "bulk": ["bulk"],
    "registration": ["register", "unregister", "registration_status"],
    "provisioning": ["provision", "provision_status"],
    "worker": ["worker"],
}


class _LazyGroup(click.Group):
    """Imports a command's module only when the command runs, so `w365 --help` stays fast."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(name.replace("_", "-") for names in _COMMAND_MODULES.values() for name in names)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        attr = cmd_name.replace("-", "_")
        for module, names in _COMMAND_MODULES.items():
            if attr in names:
                return getattr(importlib.import_module(f"plugin.cli.{module}"), attr)
        return None


@click.group(cls=_LazyGroup)
@click.version_option(package_name="w365-invoicing")
def main() -> None:
    """w365: Generate Invoice for Dynamics 365 billing contracts."""


__all__ = ["main"]
