"""`w365 dataverse-local`: the local Dataverse alone, in the foreground (docs: README.md)."""

from __future__ import annotations

import click


@click.command("dataverse-local")
@click.option(
    "--port",
    default=8800,
    show_default=True,
    type=click.IntRange(0, 65535),
    help="Port on 127.0.0.1 (0: any free port).",
)
@click.option(
    "--db",
    "db_path",
    default="./.w365/dataverse.sqlite3",
    show_default=True,
    help="SQLite database file (':memory:' for a throwaway one).",
)
@click.option(
    "--latency-ms",
    default=0.0,
    type=click.FloatRange(min=0),
    help="Latency added to every Web API request.",
)
@click.option(
    "--fault-429-rate",
    default=0.0,
    type=click.FloatRange(0, 1),
    help="Probability of a 429 per request.",
)
@click.option(
    "--fault-503-rate",
    default=0.0,
    type=click.FloatRange(0, 1),
    help="Probability of a 503 per request.",
)
@click.option(
    "--fault-reset-rate",
    default=0.0,
    type=click.FloatRange(0, 1),
    help="Probability of a dropped connection per request.",
)
@click.option(
    "--retry-after",
    "retry_after_s",
    default=1,
    show_default=True,
    type=click.IntRange(min=0),
    help="Retry-After seconds sent with injected 429s.",
)
@click.option("--limits", "limits", is_flag=True,
              help="Enforce the service protection limits per user (429 with Retry-After beyond them).")
@click.option("--limit-window-s", default=300.0, show_default=True, type=click.FloatRange(min=0, min_open=True),
              help="Sliding window of the request and execution-time limits, in seconds.")
@click.option("--limit-requests", default=6000, show_default=True, type=click.IntRange(min=1),
              help="Requests per user per window.")
@click.option("--limit-exec-ms", default=1_200_000, show_default=True, type=click.IntRange(min=1),
              help="Combined execution time per user per window, in milliseconds.")
@click.option("--limit-concurrent", default=52, show_default=True, type=click.IntRange(min=1),
              help="Concurrent requests per user.")
@click.option("--op-cost-ms", default=0.0, show_default=True, type=click.FloatRange(min=0),
              help="Simulated server time per operation (a $batch part, or a record of a "
                   "CreateMultiple/UpdateMultiple); charged and slept even without --limits.")
@click.option("--log-requests/--no-log-requests", default=False, help="Log every request.")
@click.option("--tls", is_flag=True,
              help="Serve https with a self-signed certificate (made on first run beside the "
                   "database; its CA file is printed).")
def dataverse_local(
    port: int,
    db_path: str,
    latency_ms: float,
    fault_429_rate: float,
    fault_503_rate: float,
    fault_reset_rate: float,
    retry_after_s: int,
    limits: bool,
    limit_window_s: float,
    limit_requests: int,
    limit_exec_ms: int,
    limit_concurrent: int,
    op_cost_ms: float,
    log_requests: bool,
    tls: bool,
) -> None:
    """Run the local Dataverse (Web API v9.2 on SQLite) in the foreground."""
    from connectors.local_dataverse import LocalDataverse

    try:
        dv = LocalDataverse(
            db_path=db_path,
            port=port,
            latency_ms=latency_ms,
            rate_429=fault_429_rate,
            rate_503=fault_503_rate,
            rate_reset=fault_reset_rate,
            retry_after_s=retry_after_s,
            log_requests=log_requests,
            tls=tls,
            limits=limits,
            limit_window_s=limit_window_s,
            limit_requests=limit_requests,
            limit_exec_ms=limit_exec_ms,
            limit_concurrent=limit_concurrent,
            op_cost_ms=op_cost_ms,
        )
    except Exception as exc:  # a bad database file
        raise click.ClickException(f"cannot open {db_path}: {exc}") from exc
    try:
        dv.bind()
    except OSError as exc:
        raise click.ClickException(f"cannot listen on 127.0.0.1:{port}: {exc}") from exc
    click.echo(f"Local Dataverse: {dv.url}")
    click.echo(f"  Web API:   {dv.api_url}")
    if dv.ca_path:
        click.echo(f"  authority: {dv.authority}  (client local-client / secret local-secret)")
        click.echo(f"  CA file:   {dv.ca_path}")
        click.echo(f"  trust it:  export REQUESTS_CA_BUNDLE={dv.ca_path} SSL_CERT_FILE={dv.ca_path}")
    else:
        click.echo(f"  authority: {dv.authority}  (msal needs https: start with --tls)")
    click.echo(f"  token:     local-dev-token   database: {db_path}")
    if limits:
        click.echo(f"  limits:    {limit_requests} requests, {limit_exec_ms} ms per {limit_window_s:g} s, "
                   f"{limit_concurrent} concurrent (per user)")
    click.echo("Press Ctrl+C to stop.", err=True)
    try:
        dv.serve_forever()
    except KeyboardInterrupt:
        pass
