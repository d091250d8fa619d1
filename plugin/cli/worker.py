"""`w365 worker [--concurrency N]`: a Celery worker executing bulk runs for the distributed engine."""
from __future__ import annotations

import os
import socket

import click

from plugin.cli.common import load_config


@click.command("worker")
@click.option("--concurrency", type=click.IntRange(1, 64), default=2, show_default=True,
              help="Chunks this worker executes at once (threads).")
def worker(concurrency: int) -> None:
    """Execute bulk runs queued by the web processes (needs W365_BROKER_URL, e.g. redis://host:6379/0)."""
    config = load_config()
    if not config.broker_url:
        raise click.ClickException("W365_BROKER_URL is not set: the worker needs the broker the web processes "
                                   "queue runs on (e.g. redis://127.0.0.1:6379/0)")
    from plugin.runs.celery_tasks import RUN_QUEUE, configure, worker_service

    app = configure(config)
    worker_service()  # its sweep resumes runs whose worker died, even before a task arrives
    name = f"w365@{socket.gethostname()}-{os.getpid()}"
    app.worker_main(["worker", "--pool", "threads", "--concurrency", str(concurrency), "--queues", RUN_QUEUE,
                     "--hostname", name, "--loglevel", "INFO", "--without-gossip", "--without-mingle"])
