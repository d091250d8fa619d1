"""`w365 serve` (the plugin against the configured Dataverse) and `w365 demo` (all local)."""
from __future__ import annotations

import os
import signal
import socket
import threading
from pathlib import Path
from typing import Callable

import click
from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server

from plugin.cli.common import load_config
from plugin.config import Config

DEMO_DIR = Path(".w365")
DEMO_DB = DEMO_DIR / "dataverse.sqlite3"
DEMO_DATAVERSE_PORT = 8800
DEMO_PLUGIN_PORT = 5000
DEMO_LINKED_CONTRACTS = 5
SHUTDOWN_GRACE_S = 50.0  # as gunicorn's graceful timeout less a margin (gunicorn.conf.py)


class PathOnlyRequestHandler(WSGIRequestHandler):
    """werkzeug's handler whose access log names the path only: a query string may carry a key (`?code=`)."""

    def log_request(self, code="-", size="-") -> None:
        path = self.path.split("?", 1)[0]
        self.log("info", '"%s %s %s" %s %s', self.command, path, self.request_version, code, size)


def make_plugin_server(host: str, port: int, app: Callable) -> BaseWSGIServer:
    """A threaded werkzeug server for the plugin, logging paths without their query strings."""
    return make_server(host, port, app, threaded=True, request_handler=PathOnlyRequestHandler)


class BackgroundServer:
    """A threaded werkzeug server for a WSGI app in a daemon thread (tests, embedding)."""

    def __init__(self, app: Callable, host: str = "127.0.0.1", port: int = 0):
        self.server: BaseWSGIServer = make_plugin_server(host, port, app)
        self.thread = threading.Thread(target=self.server.serve_forever, name="w365-plugin",
                                       daemon=True)

    @property
    def url(self) -> str:
        """The base URL, e.g. `http://127.0.0.1:54321`."""
        return f"http://{self.server.host}:{self.server.server_port}"

    def start(self) -> "BackgroundServer":
        """Start serving; returns self."""
        self.thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close the socket."""
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)


def check_bind(config: Config, host: str) -> None:
    """Refuse, as a CLI error, a bind address the auth mode does not allow (dev: loopback only)."""
    from plugin.auth import UnsafeBindError, assert_bind_allowed

    try:
        assert_bind_allowed(config, host)
    except UnsafeBindError as exc:
        raise click.ClickException(str(exc)) from exc


def _bind(app: Callable, host: str, port: int, fall_back_to_free: bool) -> BaseWSGIServer:
    """A threaded server on host:port; on a busy default port, a free one instead."""
    try:
        return make_plugin_server(host, port, app)
    except (OSError, SystemExit) as exc:  # werkzeug exits (SystemExit) on a busy port
        if not fall_back_to_free:
            raise click.ClickException(f"cannot listen on {host}:{port}: the port is in use") \
                from exc
        return make_plugin_server(host, 0, app)


def _stop_on_sigterm() -> None:
    """Treat SIGTERM (a service manager's stop) like Ctrl-C."""
    def interrupt(signum, frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, interrupt)


def _serve_until_interrupted(server: BaseWSGIServer) -> None:
    """Serve in this thread until Ctrl-C (SIGINT); then close the socket, let runs finish."""
    from plugin.api.runs import app_runs

    _stop_on_sigterm()
    app_runs(server.app)  # starts the sweeps: post-invoicing tasks left Queued, runs whose process died
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
        _finish_runs(server.app)


def _finish_runs(app) -> None:
    """Let bulk runs and post-invoicing tasks in progress finish (while Dataverse is still up) within the
    graceful time; a run still going then is released, and another process of the service resumes it."""
    from plugin.api.runs import close_runs

    click.echo(f"Stopping: invoice runs in progress get up to {SHUTDOWN_GRACE_S:.0f} s to finish…")
    close_runs(app, timeout=SHUTDOWN_GRACE_S)


def _port_is_free(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        try:
            probe.bind((host, port))
        except OSError:
            return False
    return True


@click.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=5000, show_default=True, type=click.IntRange(0, 65535),
              help="Port to listen on.")
def serve(host: str, port: int) -> None:
    """Run the plugin (API, webhook, pages) against the configured Dataverse (prod: gunicorn)."""
    from plugin.app import create_app

    config = load_config()
    check_bind(config, host)
    server = _bind(create_app(config), host, port, fall_back_to_free=False)
    shown = f"[{host}]" if ":" in host else host
    click.echo(f"w365 plugin on http://{shown}:{server.server_port}/ "
               f"(Dataverse {config.dataverse_url}, API auth {','.join(config.api_auth)}). "
               "Press Ctrl-C to stop.")
    _serve_until_interrupted(server)
    click.echo("Stopped.")


def demo_config(dataverse_url: str) -> Config:
    """The environment's configuration pointed at the local Dataverse: the API in dev mode (loopback,
    for the CLI), the pages signing users in through the local Dataverse, which plays Entra ID."""
    return load_config().with_overrides(
        dataverse_url=dataverse_url, dataverse_token="local-dev-token", api_auth=("dev",),
        api_keys=(),
        tenant_id=None, client_id=None, client_secret=None, client_cert_path=None,
        client_cert_thumbprint=None, authority=None,
        pages_auth="entra", entra_client_id="local-client", entra_client_secret="local-secret",
        entra_authority=f"{dataverse_url}/local")


def _seed_if_empty(client, contracts: int) -> bool:
    """Write the demo data set when Dataverse has no billing contract yet; True when it seeded."""
    existing = client.query("w365_billingcontracts", select=["w365_billingcontractid"], top=1)
    if next(iter(existing), None):
        return False
    from plugin.seed import seed

    click.echo(f"Seeding demo data ({contracts} billing contracts)…")
    seed(client, contracts=contracts, invoiced_share=0.3)
    return True


def _linked_contract_ids(client) -> list[str]:
    """A handful of active contracts for the printed URLs (stable across runs: by name)."""
    rows = client.query("w365_billingcontracts", select=["w365_billingcontractid", "w365_name"],
                        filter="statecode eq 0", orderby="w365_name", top=DEMO_LINKED_CONTRACTS)
    return [row["w365_billingcontractid"] for row in rows]


@click.command("demo")
@click.option("--port", type=click.IntRange(0, 65535), default=None,
              help=f"Plugin port (default {DEMO_PLUGIN_PORT}, or a free one if it is taken).")
@click.option("--dataverse-port", type=click.IntRange(0, 65535), default=None,
              help=f"Local Dataverse port (default {DEMO_DATAVERSE_PORT}, or a free one if taken).")
@click.option("--contracts", type=click.IntRange(1, 100_000), default=250, show_default=True,
              help="Billing contracts seeded on the first run.")
def demo(port: int | None, dataverse_port: int | None, contracts: int) -> None:
    """Run the local Dataverse (SQLite in ./.w365/) and the plugin; seed once; print the URLs."""
    from connectors.dataverse import DataverseClient
    from connectors.local_dataverse import LocalDataverse
    from plugin.app import create_app
    from plugin.provisioning import provision

    DEMO_DIR.mkdir(exist_ok=True)
    if dataverse_port is None:
        dataverse_port = DEMO_DATAVERSE_PORT if _port_is_free(DEMO_DATAVERSE_PORT) else 0
    # https, so that msal signs users in against it exactly as against Entra ID (its CA in ./.w365/tls/)
    dv = LocalDataverse(db_path=str(DEMO_DB), port=dataverse_port, tls=True).start()
    os.environ["REQUESTS_CA_BUNDLE"] = os.environ["SSL_CERT_FILE"] = dv.ca_path
    try:
        config = demo_config(dv.url)
        check_bind(config, "127.0.0.1")
        client = DataverseClient.from_config(config)
        provision(client)  # the service's own tables and role, as `w365 provision` makes them
        _seed_if_empty(client, contracts)
        ids = _linked_contract_ids(client)
        server = _bind(create_app(config, dataverse=client), "127.0.0.1",
                       DEMO_PLUGIN_PORT if port is None else port, fall_back_to_free=port is None)
        base = f"http://127.0.0.1:{server.server_port}"
        click.echo(f"Local Dataverse: {dv.api_url}  (data in {DEMO_DB})")
        click.echo(f"Plugin API:      {base}/api/v1/health")
        if ids:
            click.echo(f"Bulk window:     {base}/pages/bulk?ids={','.join(ids)}")
            click.echo(f"Dialog:          {base}/pages/generate?id={ids[0]}")
        click.echo("")
        click.echo("The pages sign you in: pick a user on the local Dataverse's sign-in page (Billing users may")
        click.echo("invoice; a user with no billing role gets Dataverse's missing-privilege error). That page is")
        click.echo(f"https with a certificate made for this demo: accept it once, or trust {dv.ca_path}.")
        click.echo("")
        click.echo("Every other w365 command reaches this Dataverse with these lines in the environment")
        click.echo("(export them in another shell, or put them in a .env file here):")
        click.echo(f"  W365_DATAVERSE_URL={dv.url}")
        click.echo(f"  W365_DATAVERSE_TOKEN={config.dataverse_token}")
        click.echo(f"  REQUESTS_CA_BUNDLE={dv.ca_path}")
        click.echo("Press Ctrl-C to stop.")
        _serve_until_interrupted(server)
    finally:
        dv.stop()
    click.echo("Stopped.")
