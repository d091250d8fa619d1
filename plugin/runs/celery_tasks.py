"""The distributed engine: bulk runs executed by Celery workers (`w365 worker`), a chunk per task.

With `W365_BROKER_URL` set, web processes only open a run and queue its first chunk; a worker's task
takes the run's lease, executes one chunk of rows, hands the lease back to the queue and queues the
next chunk. Tasks are acknowledged late, so a task whose worker dies is delivered again; before that,
the run's lease expires and another worker's sweep queues the run again. Post-invoicing tasks are
queued the same way. The broker is any Celery broker: Redis in the tests and the docs, Azure Service
Bus in production.
"""
from __future__ import annotations

import logging
import threading
from typing import Any

from celery import Celery, signals

from plugin.config import Config

log = logging.getLogger(__name__)

RUN_QUEUE = "w365-runs"
celery_app = Celery("w365")
_service_lock = threading.Lock()
_service: Any = None  # this worker process's RunService


def _settings(config: Config) -> dict[str, Any]:
    return {
        "broker_url": config.broker_url,
        "task_default_queue": RUN_QUEUE,
        "task_acks_late": True,                # a chunk whose worker dies is delivered again
        "task_reject_on_worker_lost": True,
        "worker_prefetch_multiplier": 1,       # one chunk at a time per worker thread: fair to the others
        "task_ignore_result": True,
        "broker_connection_retry_on_startup": True,
        "broker_transport_options": {"visibility_timeout": max(config.run_lease_s * 4, 60.0)},
        "worker_hijack_root_logger": False,
    }


def configure(config: Config) -> Celery:
    """This process's worker app configured from the service's environment (broker, late acknowledgement)."""
    celery_app.conf.update(_settings(config))
    return celery_app


class CeleryRunQueue:
    """The RunService's queue on Celery (see `plugin.runs.service.RunQueue`): sends tasks by name."""

    def __init__(self, config: Config) -> None:
        self._app = Celery("w365-sender", set_as_current=False)
        self._app.conf.update(_settings(config))

    def run_chunk(self, run_id: str) -> None:
        """Queue the execution of the run's next chunk."""
        self._send("w365.run_chunk", [run_id])

    def post_tasks(self, invoice_ids: list[str], caller_id: str | None) -> None:
        """Queue the post-invoicing tasks of these invoices."""
        self._send("w365.post_tasks", [invoice_ids, caller_id])

    def _send(self, task: str, args: list[Any]) -> None:
        # A broker outage loses nothing: the run's handed-off lease expires and a worker's sweep queues
        # it again; Queued post tasks are swept up the same way. So the caller is not failed for it.
        try:
            self._app.send_task(task, args=args, queue=RUN_QUEUE, retry=True,
                                retry_policy={"max_retries": 2, "interval_start": 0.2, "interval_step": 0.5})
        except Exception as exc:  # noqa: BLE001 - kombu/redis raise several unrelated types
            log.error("could not queue %s (%s): a worker's sweep will pick it up", task, exc)


def worker_service():
    """This worker process's RunService (built from the environment on first use)."""
    global _service
    with _service_lock:
        if _service is None:
            from connectors.dataverse import DataverseClient
            from plugin.runs.service import RunService

            config = Config.from_env()
            _service = RunService(DataverseClient.from_config(config), config, queue=CeleryRunQueue(config))
            _service.start_run_sweep()
            _service.start_task_recovery()
        return _service


@celery_app.task(name="w365.run_chunk")
def run_chunk(run_id: str) -> bool:
    """Execute the next chunk of a run, if no live worker holds it."""
    return worker_service().run_chunk(run_id)


@celery_app.task(name="w365.post_tasks")
def run_post_tasks(invoice_ids: list[str], caller_id: str | None = None) -> None:
    """Run the queued post-invoicing tasks of these invoices (as the run's user)."""
    service = worker_service()
    client = service.client_for_user(caller_id)
    service.worker.run(invoice_ids, client=client)


@signals.worker_shutting_down.connect
def _finish(**_: Any) -> None:
    """On a warm shutdown the chunk in progress finishes; leases still held are released for another worker."""
    if _service is not None:
        _service.close(timeout=30)
